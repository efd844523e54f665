#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make demo: the plan run in the x86_64 test VM. Loads both sample modules,
# shows their nodes and parameters, runs vmalock_demo on both side by side
# and unloads them.
M=${RVL_MODULES:-/lib/modules-rvl}
dmesg -n 1
echo "== $(uname -sr), $(nproc) CPUs: insmod rust_vmalock.ko c_vmalock.ko"
insmod $M/rust_vmalock.ko || exit 1
insmod $M/c_vmalock.ko || exit 1
ls -l /dev/*-vmalock
for m in rust_vmalock c_vmalock; do
	# 7.3's Rust module! parameters are not in sysfs: the driver's
	# registration message gives their values.
	set -- /sys/module/$m/parameters/*
	if [ ! -e "$1" ]; then
		dmesg | grep "$m: registered" | tail -n 1 | sed 's/^\[[^]]*\] //'
		continue
	fi
	printf '/sys/module/%s/parameters:' $m
	for p; do
		printf ' %s=%s' "${p##*/}" "$(cat $p)"
	done
	echo
done
vmalock_demo || exit 1
rmmod rust_vmalock && rmmod c_vmalock || exit 1
echo "== rmmod rust_vmalock c_vmalock: ok"

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
	printf '/sys/module/%s/parameters:' $m
	for p in /sys/module/$m/parameters/*; do
		printf ' %s=%s' "${p##*/}" "$(cat $p)"
	done
	echo
done
vmalock_demo || exit 1
rmmod rust_vmalock && rmmod c_vmalock || exit 1
echo "== rmmod rust_vmalock c_vmalock: ok"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make demo: the plan run in the x86_64 test VM.
echo "== insmod rust_vmalock.ko"
insmod /lib/modules-rvl/rust_vmalock.ko || exit 1
ls -l /dev/rust-vmalock
dmesg -n 1
vmalock_demo

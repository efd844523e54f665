# SPDX-License-Identifier: GPL-2.0
#
# Convenience targets. The module itself is built by Kbuild:
#   make -C <kernel build dir> M=$PWD
# which reads ./Kbuild, not this file.

.PHONY: setup patches check demo bench vng clean

setup:
	scripts/setup.sh

patches: setup
	scripts/series.sh

check:
	scripts/check.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh

vng: patches
	scripts/build-kernel.sh x86_64 vng
	scripts/run-vng.sh

clean:
	rm -rf out
	find . \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '.*.cmd' -o -name '*.rmeta' -o -name modules.order \
		-o -name Module.symvers \) -delete

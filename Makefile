# SPDX-License-Identifier: GPL-2.0
#
# Convenience targets; see README.md. TREE=7.3 picks the other kernel tree
# for demo and vng (6.12 by default; VNG_ARCH=arm64 for vng on arm64);
# check and bench run both trees unless TREE (or KSRC) names one. The sample
# modules are built out of tree from ./Kbuild, with the sources as the
# tree's series has them (scripts/lib.sh: stage_modules).

.PHONY: setup patches check bisect-check demo bench vng clean

setup:
	scripts/setup.sh

# Both trees' series, each with its cover letter, in out/patches/<tree>/,
# signed off by your git identity (git config user.name, user.email).
patches:
	for t in 6.12 7.3; do TREE=$$t scripts/setup.sh && TREE=$$t RVL_POST=1 scripts/series.sh || exit 1; done

check:
	scripts/check.sh

# Every prefix of the posted series builds (TREE=7.3 by default; slow).
bisect-check:
	TREE=$(or $(TREE),7.3) scripts/setup.sh
	TREE=$(or $(TREE),7.3) scripts/bisect-check.sh

demo:
	scripts/demo.sh

# Each tree in turn, or the one TREE= or KSRC= picks.
bench:
	$(if $(TREE)$(KSRC),scripts/bench.sh && scripts/bench-binder.sh,for t in 6.12 7.3; do TREE=$$t scripts/bench.sh && TREE=$$t scripts/bench-binder.sh || exit 1; done)

vng:
	scripts/setup.sh
	scripts/series.sh
	scripts/build-kernel.sh $(or $(VNG_ARCH),x86_64) test
	scripts/run-vng.sh $(or $(VNG_ARCH),x86_64)

clean:
	rm -rf out
	find . \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '.*.cmd' -o -name '*.rmeta' -o -name modules.order \
		-o -name Module.symvers \) -delete

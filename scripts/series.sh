#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# series.sh: turn the repo into a patch series against the pristine tree,
# check that it applies with git am, and check it out in the build tree.
#
# 1. In a sparse worktree of the pristine repository, commit each entry of
#    series/series (new files copied from the repo, hunks from
#    series/<patch>.diff) with a fixed date, so unchanged content gives the
#    same commits and the build tree is not touched.
#    The line "harness" in series/series splits it: the patches above it
#    are the series that would be posted, those below it are this
#    project's measuring tools (the C twin, the benchmark), which the tests
#    need but upstream does not.
# 2. git format-patch the posted series into patches_dir (lib.sh) with the
#    cover letter, base-commit and To/Cc from get_maintainer.pl, and the
#    harness into patches_dir-harness.
# 3. git am both onto the vanilla tag in a second worktree and check that
#    the result is the same tree.
# 4. Check out the series in the build tree: git only rewrites files that
#    changed, so make rebuilds only what depends on them.

. "$(dirname "$0")/lib.sh"

src=$(src_dir)
build_lock
tag=$(vanilla_tag)
wt=$CACHE/worktrees/linux-$(kernel_version)
# The patches are the submitter's: authored and signed off (git commit -s)
# by the git identity of whoever runs this (lib.sh: git_identity).
# Without one, `make patches` (RVL_POST=1) refuses; other callers (make
# check) apply the series under a marked placeholder, and write it outside
# out/patches/ (patches_dir).
if ident=$(git_identity); then
	GIT_AUTHOR_NAME=${ident%%<*}
	GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME% }
	GIT_AUTHOR_EMAIL=${ident#*<}
	GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL%>}
elif [ "${RVL_POST:-}" = 1 ]; then
	die "make patches signs the series off as you: set git config user.name and user.email"
else
	GIT_AUTHOR_NAME="RVL placeholder (no git identity)" GIT_AUTHOR_EMAIL=placeholder@invalid
fi
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"

worktree() {
	local dir=$1
	if [ ! -e "$dir/.git" ]; then
		rm -rf "$dir"
		git -C "$src" worktree prune
		git -C "$src" worktree add -q --no-checkout --detach "$dir" "$tag"
		git -C "$dir" sparse-checkout set --cone rust samples Documentation/rust \
			tools/testing/selftests
	fi
	git -C "$dir" am --abort >/dev/null 2>&1 || true
	git -C "$dir" checkout -q -f --detach "$tag"
	git -C "$dir" clean -q -fdx
}

# A file under trees/$TREE/ is that tree's own: it overrides the shared path.
tree_file() {
	if [ -e "$REPO/trees/$TREE/$1" ]; then echo "$REPO/trees/$TREE/$1"; else echo "$REPO/$1"; fi
}
tdir=$REPO/trees/$TREE/series

phase "series: commit ($TREE)"
worktree "$wt/series"
posted=
while read -r patch files; do
	case $patch in ''|\#*) continue ;; esac
	if [ "$patch" = harness ]; then
		posted=$(git -C "$wt/series" rev-parse HEAD)
		continue
	fi
	msg=$tdir/$patch.msg
	[ -f "$msg" ] || msg=$REPO/series/$patch.msg
	[ -f "$msg" ] || die "no commit message for $patch"
	for f in $files; do
		mkdir -p "$wt/series/$(dirname "$f")"
		cp "$(tree_file "$f")" "$wt/series/$f"
		git -C "$wt/series" add -f "$f"
	done
	# Hunks for files the patch does not add: the tree's own, or shared.
	diff=$tdir/$patch.diff
	[ -f "$diff" ] || diff=$REPO/series/$patch.diff
	if [ -f "$diff" ]; then
		git -C "$wt/series" apply --index "$diff" ||
			die "${diff#"$REPO"/} does not apply"
	fi
	git -C "$wt/series" commit -q -s -F "$msg"
done < "$tdir/series"
head=$(git -C "$wt/series" rev-parse HEAD)
[ -n "$posted" ] || posted=$head

phase "series: format-patch"
patches=$(patches_dir)
rm -rf "$patches" "$patches-harness"
# To: the maintainers of what the posted series touches, Cc: its reviewers
# and lists (get_maintainer.pl of the tree, on the patches themselves).
git -C "$wt/series" format-patch -q --zero-commit --no-signature -o "$patches.tmp" "$tag..$posted"
maint() {
	(cd "$src" && perl scripts/get_maintainer.pl --no-git --no-git-fallback --no-rolestats \
		--no-tree "$@" "$patches".tmp/*.patch) | sort -u
}
recipients=()
to=$(maint --no-r --no-l)
while read -r who; do [ -n "$who" ] && recipients+=(--to="$who"); done <<<"$to"
# Reviewers and lists; someone already in To: (a maintainer who also
# reviews) once.
while read -r who; do
	[ -n "$who" ] && ! grep -qxF "$who" <<<"$to" && recipients+=(--cc="$who")
done < <(maint --no-m)
rm -rf "$patches.tmp"
[ ${#recipients[@]} -gt 0 ] || die "get_maintainer.pl named nobody for the series"
# 6.12 is a backport: its subjects say so.
prefix=PATCH
[ "$TREE" = 7.3 ] || prefix="PATCH $TREE"
git -C "$wt/series" format-patch -q --zero-commit --no-signature --cover-letter \
	--subject-prefix="$prefix" --base="$tag" "${recipients[@]}" -o "$patches" "$tag..$posted"
if [ "$posted" != "$head" ]; then
	git -C "$wt/series" format-patch -q --zero-commit --no-signature \
		--subject-prefix="HARNESS $TREE" -o "$patches-harness" "$posted..$head"
fi
# The cover letter's subject and blurb: trees/$TREE/series/cover-letter (the
# first line is the subject).
cover=$(ls "$patches"/0000-*.patch)
python3 - "$cover" "$tdir/cover-letter" <<'PY'
import sys
path, src = sys.argv[1], sys.argv[2]
subject, _, blurb = open(src).read().partition("\n")
text = open(path).read()
text = text.replace("*** SUBJECT HERE ***", subject.strip())
text = text.replace("*** BLURB HERE ***", blurb.strip("\n"))
open(path, "w").write(text)
PY
ls "$patches"
harness=()
[ -d "$patches-harness" ] && harness=("$patches-harness"/*.patch) && ls "$patches-harness"

phase "series: git am on pristine $(kernel_version)"
worktree "$wt/am"
# shellcheck disable=SC2046 # one patch file a word
git -C "$wt/am" am -q $(ls "$patches"/*.patch | grep -v '/0000-') "${harness[@]}"
[ "$(git -C "$wt/am" rev-parse 'HEAD^{tree}')" = "$(git -C "$wt/series" rev-parse 'HEAD^{tree}')" ] ||
	die "git am result differs from the series"
echo "series applies: $(ls "$patches" | grep -vc '^0000-') patches and a cover letter," \
	"then ${#harness[@]} harness patches"

phase "series: check out in the build tree"
git -C "$src" checkout -q -f --detach "$head"
phase_end
echo "$head" > "$OUT/series-head-$TREE"

#!/bin/sh
# Installs puppeteer-core, at the version test/ui/package-lock.json pins,
# into build/npm-ui (git-ignored), once; prints its node_modules folder.
# No browser is downloaded: the console's tests and benchmark drive
# Debian's chromium-headless-shell (scripts/install-deps.sh installs it).
# npm's output goes to stderr; exit 1 when npm fails.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$top/build/npm-ui
if cmp -s "$top/test/ui/package-lock.json" "$dir/package-lock.json" &&
	[ -f "$dir/node_modules/puppeteer-core/package.json" ]; then
	echo "$dir/node_modules"
	exit 0
fi
mkdir -p "$dir"
rm -f "$dir/package-lock.json"
cp "$top/test/ui/package.json" "$dir/package.json"
cp "$top/test/ui/package-lock.json" "$dir/package-lock.json.new"
mv "$dir/package-lock.json.new" "$dir/package-lock.json"
if ! (cd "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --fetch-retries 1 \
	--fetch-timeout 30000) >&2; then
	rm -f "$dir/package-lock.json"
	exit 1
fi
echo "$dir/node_modules"

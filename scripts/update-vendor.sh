#!/usr/bin/env bash
# Refresh static/vendor/ (the browser terminal, its font, and the layout library
# of the kernel picture) from the npm
# registry at the versions pinned below, so the lab serves them itself and
# needs no CDN.  static/vendor/ is generated whole by this script: it is
# replaced on every run, so do not edit files in it by hand.
#
# Usage: scripts/update-vendor.sh        (needs node's npm and tar)
# To move to another version, change a pin below, run the script, and review
# the diff (static/vendor/VERSIONS records each package's registry integrity).
set -euo pipefail

# ---- pinned versions -------------------------------------------------------
XTERM_VERSION=6.0.0            # @xterm/xterm
ADDON_FIT_VERSION=0.11.0       # @xterm/addon-fit        (first release for xterm 6)
ADDON_WEB_LINKS_VERSION=0.12.0 # @xterm/addon-web-links  (first release for xterm 6)
ADDON_UNICODE11_VERSION=0.9.0  # @xterm/addon-unicode11  (first release for xterm 6)
FONT_PACKAGE=@fontsource/dejavu-mono   # DejaVu Sans Mono, Bitstream Vera licence
FONT_VERSION=5.3.0
# This package's single "latin" subset is the whole font (box drawing, block
# elements, Greek, Cyrillic, arrows...), not a cut-down Latin subset.
FONT_SUBSETS=(latin)
FONT_WEIGHTS=(400 700)
FONT_FAMILY="nslab mono"       # the family name the page asks for
ELK_VERSION=0.12.1             # elkjs: lays out the kernel picture (EPL-2.0 OR GPL-3.0-or-later)
# ----------------------------------------------------------------------------

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$repo/static/vendor"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nslab-vendor.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# A private npm cache: every tarball is downloaded and checked afresh, and
# nothing of this run is left behind in ~/.npm.
export npm_config_cache="$tmp/npm-cache"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

out="$tmp/vendor"
mkdir -p "$out" "$tmp/pkgs"
: >"$tmp/versions"

# fetch NAME VERSION: unpack NAME@VERSION into $tmp/pkgs/<dir>/ and print that
# dir; record the registry's integrity, after checking the tarball against it.
fetch() {
    local name=$1 version=$2 spec="$1@$2" want got file dir
    want=$(cd "$tmp" && npm view "$spec" dist.integrity)
    [[ -n $want ]] || { echo "update-vendor: $spec not found on the registry" >&2; exit 1; }
    file=$(cd "$tmp" && npm pack --silent --pack-destination "$tmp/pkgs" "$spec" | tail -n 1)
    got=$(node -e '
        const c = require("crypto"), fs = require("fs");
        process.stdout.write("sha512-" + c.createHash("sha512")
            .update(fs.readFileSync(process.argv[1])).digest("base64"));' "$tmp/pkgs/$file")
    if [[ $got != "$want" ]]; then
        echo "update-vendor: $spec: tarball integrity $got != registry's $want" >&2
        exit 1
    fi
    dir="$tmp/pkgs/${file%.tgz}"
    mkdir -p "$dir"
    tar -xzf "$tmp/pkgs/$file" -C "$dir" --strip-components=1
    # The unpacked package.json must be the version we asked for.
    node -e '
        const p = require(process.argv[1] + "/package.json");
        if (p.name !== process.argv[2] || p.version !== process.argv[3]) {
            console.error(`update-vendor: got ${p.name}@${p.version}, wanted ${process.argv[2]}@${process.argv[3]}`);
            process.exit(1);
        }' "$dir" "$name" "$version"
    printf '%s %s\n' "$spec" "$want" >>"$tmp/versions"
    printf '%s\n' "$dir"
}

# copy SRC DESTDIR/NAME, failing loudly if the package no longer ships SRC.
copy() {
    [[ -f $1 ]] || { echo "update-vendor: missing in package: ${1#"$tmp"/pkgs/}" >&2; exit 1; }
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2"
}

# xterm itself: the UMD build (defines the global Terminal) and its CSS.
pkg=$(fetch @xterm/xterm "$XTERM_VERSION")
copy "$pkg/lib/xterm.js" "$out/xterm/xterm.js"
copy "$pkg/css/xterm.css" "$out/xterm/xterm.css"
copy "$pkg/LICENSE" "$out/xterm/LICENSE"

# Addons: their UMD builds (each defines one global, e.g. FitAddon.FitAddon).
for addon in fit:$ADDON_FIT_VERSION web-links:$ADDON_WEB_LINKS_VERSION \
             unicode11:$ADDON_UNICODE11_VERSION; do
    a=${addon%%:*} v=${addon#*:}
    pkg=$(fetch "@xterm/addon-$a" "$v")
    # An addon that declares a peer range for xterm must accept the pinned one.
    node -e '
        const peer = (require(process.argv[1] + "/package.json").peerDependencies || {})["@xterm/xterm"];
        const major = process.argv[2].split(".")[0];
        if (peer && !new RegExp("^[\\^~]?" + major + "\\.").test(peer)) {
            console.error(`update-vendor: @xterm/addon-${process.argv[3]} wants @xterm/xterm ${peer}`);
            process.exit(1);
        }' "$pkg" "$XTERM_VERSION" "$a"
    copy "$pkg/lib/addon-$a.js" "$out/addon-$a/addon-$a.js"
    copy "$pkg/LICENSE" "$out/addon-$a/LICENSE"
done

# The font: woff2 files, its licence, and fonts.css naming it "$FONT_FAMILY".
pkg=$(fetch "$FONT_PACKAGE" "$FONT_VERSION")
font_id=${FONT_PACKAGE#*/}
copy "$pkg/LICENSE" "$out/fonts/LICENSE"
{
    printf '/* Generated by scripts/update-vendor.sh from %s@%s; do not edit.\n' "$FONT_PACKAGE" "$FONT_VERSION"
    printf '   Licence: fonts/LICENSE.  xterm.js measures the font when the terminal\n'
    printf '   opens: load it first, e.g. await document.fonts.load('"'"'16px "%s"'"'"'). */\n' "$FONT_FAMILY"
    for subset in "${FONT_SUBSETS[@]}"; do
        for weight in "${FONT_WEIGHTS[@]}"; do
            file="$font_id-$subset-$weight-normal.woff2"
            copy "$pkg/files/$file" "$out/fonts/$file"
            # Keep the package's unicode-range for this subset, if it has one.
            range=$(sed -n 's/^ *unicode-range: *\(.*\);$/\1/p' "$pkg/$subset-$weight.css" 2>/dev/null | head -n 1 || true)
            printf '\n@font-face {\n'
            printf '  font-family: "%s";\n' "$FONT_FAMILY"
            printf '  font-style: normal;\n'
            printf '  font-weight: %s;\n' "$weight"
            printf '  font-display: block;\n'
            printf '  src: url("fonts/%s") format("woff2");\n' "$file"
            [[ -z $range ]] || printf '  unicode-range: %s;\n' "$range"
            printf '}\n'
        done
    done
} >"$out/fonts.css"

# elkjs: the bundled build (defines the global ELK; lays out in the page's own thread,
# see static/kernel.js for why that is enough) and its licence beside it.
pkg=$(fetch elkjs "$ELK_VERSION")
copy "$pkg/lib/elk.bundled.js" "$out/elkjs/elk.bundled.js"
copy "$pkg/LICENSE.md" "$out/elkjs/LICENSE.md"

{
    printf '# Generated by scripts/update-vendor.sh; do not edit.\n'
    printf '# package@version and its registry integrity (npm view NAME@VERSION dist.integrity)\n'
    cat "$tmp/versions"
} >"$out/VERSIONS"

# Everything fetched and checked: replace static/vendor in one step.
mkdir -p "$repo/static"
rm -rf "$dest"
cp -R "$out" "$dest"
echo "update-vendor: static/vendor refreshed:"
sed -n 's/^\([^#].*\) .*/  \1/p' "$dest/VERSIONS"

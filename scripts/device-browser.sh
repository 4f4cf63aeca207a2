#!/usr/bin/env bash
# Prepares `npm run bench -- browser` for the GPU machine (../shared/device/README.md), which has no
# browser and none of a browser's libraries. Run here, in the project root, after `npm run build`,
# `node scripts/install-chromium.js` and `bash ../shared/device/prepare.sh`. It fills (all git-ignored):
#   .dchr1/ .dchr2/ .dchr3/  Debian's chromium-headless-shell, chromium-common's data files and every
#                            library the binary links (resolved by ldd here, glibc's own left out: the
#                            GPU machine's is newer), as one xz tarball split in three: the device tool
#                            carries 64 MiB a call, the working tree included;
#   .dbrowser/               bench/browser.ts bundled with puppeteer-core (esbuild), a font and its
#                            fontconfig file (headless Chromium aborts without one), and run.sh.
# Then call the device tool four times in quick succession (a machine idle for 30 s is given back):
#   carry [".dchr1"]: mkdir -p /tmp/keep && cp .dchr1/part.* /tmp/keep/
#   carry [".dchr2"]: cp .dchr2/part.* /tmp/keep/
#   carry [".dchr3"]: cp .dchr3/part.* /tmp/keep/
#   carry [".device", ".dbrowser", "dist/web"]: bash .dbrowser/run.sh
# (move .device/webgpu and .device/node_modules aside for the last call: they are not needed, and the
# carry would exceed 64 MiB). run.sh writes $OUT/browser.json.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
for d in .dchr1 .dchr2 .dchr3 .dbrowser; do grep -qx "/$d/" .git/info/exclude 2>/dev/null || echo "/$d/" >> .git/info/exclude; done
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download chromium-headless-shell >/dev/null && dpkg -x chromium-headless-shell_*.deb x)
b="$work/bundle"; mkdir -p "$b/chromium/locales" "$b/lib"
cp "$work"/x/usr/lib/chromium/* "$b/chromium/"
for f in icudtl.dat libvulkan.so.1 libEGL.so libGLESv2.so snapshot_blob.bin v8_context_snapshot.bin; do cp /usr/lib/chromium/$f "$b/chromium/"; done
cp /usr/lib/chromium/locales/en-US.pak "$b/chromium/locales/"
ldd "$b/chromium/chromium-headless-shell" | awk '{print $3}' | grep -vE '^$|/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so|ld-linux' | xargs -I{} cp -L {} "$b/lib/"
for f in libsoftokn3.so libfreebl3.so libfreeblpriv3.so libnssckbi.so libnssdbm3.so; do [ -f /usr/lib/x86_64-linux-gnu/$f ] && cp -L /usr/lib/x86_64-linux-gnu/$f "$b/lib/"; done
tar -C "$b" -cf - . | xz -T2 -9 > "$work/bundle.tar.xz"
rm -rf .dchr1 .dchr2 .dchr3 && mkdir -p .dchr1 .dchr2 .dchr3
split -n 3 -d "$work/bundle.tar.xz" "$work/part."
mv "$work/part.00" .dchr1/; mv "$work/part.01" .dchr2/; mv "$work/part.02" .dchr3/
rm -rf .dbrowser && mkdir -p .dbrowser/fonts
cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf .dbrowser/fonts/
cat > .dbrowser/fonts.conf <<CONF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>$root/.dbrowser/fonts</dir>
  <cachedir>/tmp/fontcache</cachedir>
  <alias><family>sans-serif</family><prefer><family>DejaVu Sans</family></prefer></alias>
  <alias><family>system-ui</family><prefer><family>DejaVu Sans</family></prefer></alias>
  <alias><family>monospace</family><prefer><family>DejaVu Sans Mono</family></prefer></alias>
</fontconfig>
CONF
node -e "
require('esbuild').build({
  stdin: { contents: \"import { benchBrowser } from './bench/browser.ts'; const f = await benchBrowser(); const out = process.argv.find((a) => a.startsWith('--json-out='))?.slice(11); if (out) (await import('node:fs')).writeFileSync(out, JSON.stringify(f, null, 2));\", resolveDir: '.', sourcefile: 'device-browser.ts', loader: 'ts' },
  bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: '.dbrowser/bench-browser.mjs', logLevel: 'warning',
  banner: { js: \"import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);\" },
}).catch((e) => { console.error(e.message); process.exit(1); });"
cat > .dbrowser/run.sh <<'RUN'
# On the GPU machine: assemble the carried Chromium, then run the browser bench (kdoc-6m with
# perplexity on WebGPU, and a Llama-2-7B-shaped checkpoint written to /tmp/llama7b).
set -u
source .device/on-device.sh >/dev/null 2>&1
mkdir -p /tmp/chr && { [ -x /tmp/chr/chromium/chromium-headless-shell ] || cat /tmp/keep/part.* | xz -d | tar -C /tmp/chr -xf -; } || exit 1
export LD_LIBRARY_PATH=/tmp/chr/lib FONTCONFIG_FILE=$PWD/.dbrowser/fonts.conf
# WebGPU on the NVIDIA driver through Vulkan, without a display.
flags="--use-angle=vulkan --enable-features=Vulkan --disable-vulkan-surface --ignore-gpu-blocklist"
timeout ${SECONDS_LIMIT:-580} node .dbrowser/bench-browser.mjs --chromium=/tmp/chr/chromium/chromium-headless-shell "--chromium-flags=$flags" \
  --model-dir=/tmp/llama7b --json-out=$OUT/browser.json 2>&1 | grep -vE '^\s*$|dbus|DBus|Floss'
RUN
du -sh .dchr1 .dchr2 .dchr3 .dbrowser

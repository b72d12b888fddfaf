#!/bin/sh
# tools/embed-page.sh: writes src/admin/status-assets.c, the admin page's
# files (src/admin/page/) as C strings, so that the binary serves them
# without reading a file. make runs it when a page file changes; its output
# is committed, so a build needs no step of its own.
set -eu
cd "$(dirname "$0")/.."
out=src/admin/status-assets.c
tmp=$out.tmp
{
  echo '/* Written by tools/embed-page.sh from src/admin/page/: edit those, not this. */'
  echo '// clang-format off'
  echo '#include "status-page.h"'
  echo
  for f in index.html status.css status.js; do
    name=$(echo "$f" | tr '.-' '__')
    echo "static const char ${name}[] ="
    # each line a string literal: backslash, quote and '?' (trigraphs) escaped
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/  "/' -e 's/$/\\n"/' "src/admin/page/$f"
    echo '  ;'
    echo
  done
  echo 'const tg_status_asset tg_status_assets[] = {'
  echo '    {"/", "text/html; charset=utf-8", index_html, sizeof index_html - 1},'
  echo '    {"/status.css", "text/css; charset=utf-8", status_css, sizeof status_css - 1},'
  echo '    {"/status.js", "text/javascript; charset=utf-8", status_js, sizeof status_js - 1},'
  echo '    {0, 0, 0, 0},'
  echo '};'
} >"$tmp"
mv "$tmp" "$out"

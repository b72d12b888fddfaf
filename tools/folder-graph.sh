#!/usr/bin/env bash
# Prints which folders of src/ call into which (the link graph of the
# objects: folder A -> B when an object in A uses a function or variable
# that an object in B defines), and the edges that lie on a cycle.
# Exits 1 when there is a cycle, 0 when the folders form a DAG.
#
#   tools/folder-graph.sh [BUILD_DIR]     (default build-asan: objects
#                                          without link-time optimisation)
#
# src/main.c is the folder "main". Only what links counts: a header that
# brings types or static inline functions alone adds no edge. An object
# whose source is gone (a file moved or removed since the build) is left
# out, so that a build directory older than the tree shows no stale edge.
#
# The last line is a summary in the form scripts/test.sh counts:
#   folder graph: N passed, N failed
# where each folder is one test: failed when one of its outgoing edges lies
# on a cycle, passed otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
[ -d "$build/src" ] || { echo "folder-graph: no objects in $build/src (make SAN=1 all)" >&2; exit 2; }

folder_of() { # build/src/codec/head.o -> codec; build/src/main.o -> main
  local rel=${1#"$build"/src/}
  case "$rel" in */*) echo "${rel%%/*}" ;; *) echo main ;; esac
}

defs=$(mktemp) uses=$(mktemp)
trap 'rm -f "$defs" "$uses"' EXIT
while IFS= read -r o; do
  src=${o#"$build"/}
  [ -f "${src%.o}.c" ] || continue
  f=$(folder_of "$o")
  nm --defined-only -g "$o" 2>/dev/null | awk -v f="$f" 'NF == 3 { print $3, f }' >>"$defs"
  nm -u "$o" 2>/dev/null | awk -v f="$f" '{ print $NF, f }' >>"$uses"
done < <(find "$build/src" -name '*.o' | sort)

awk '
  NR == FNR { owner[$1] = $2; next }
  ($1 in owner) && owner[$1] != $2 { edge[$2 " " owner[$1]] = 1; node[$2]; node[owner[$1]] }
  END {
    n = 0
    for (v in node) name[n++] = v
    for (i = 0; i < n; i++) for (j = 0; j < n; j++) reach[i, j] = ((name[i] " " name[j]) in edge)
    for (k = 0; k < n; k++) for (i = 0; i < n; i++) if (reach[i, k]) for (j = 0; j < n; j++) if (reach[k, j]) reach[i, j] = 1
    ne = 0; nc = 0; nbad = 0
    for (i = 0; i < n; i++) {
      line = ""
      on_cycle = 0
      for (j = 0; j < n; j++) if ((name[i] " " name[j]) in edge) {
        ne++
        cyc = reach[j, i]
        if (cyc) { nc++; bad[nc] = name[i] " -> " name[j]; on_cycle = 1 }
        line = line " " name[j] (cyc ? "*" : "")
      }
      out[i] = sprintf("%-10s ->%s", name[i], line)
      nbad += on_cycle
    }
    # print in a stable order
    for (i = 0; i < n; i++) print out[i] | "sort"
    close("sort")
    printf("%d folders, %d edges, %d on a cycle (marked *)\n", n, ne, nc)
    for (i = 1; i <= nc; i++) print "  cycle edge: " bad[i] | "sort"
    close("sort")
    printf("folder graph: %d passed, %d failed\n", n - nbad, nbad)
    exit nc ? 1 : 0
  }' "$defs" "$uses"

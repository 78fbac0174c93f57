#!/usr/bin/env bash
# `make check-layers`: the tree's boundaries (docs/architecture.md), checked on the sources and
# on the built objects against tests/layers/rules.
#
#   tests/layers/check.sh [--src DIR] [--obj DIR] [--rules FILE]
#
# Sources (DIR, default .): every file of common/, coordinator/ and worker/ belongs to one room;
# each #include names a header by its path from the root and lands in a room the includer's
# room may use; libraries' headers appear only in the rooms allowed them; a pure room includes
# only the listed system headers and common modules; no header includes itself round a circle.
# Objects (DIR, default build/obj, when it exists; --obj '' skips them): each object calls only
# into rooms its room may use, a pure room's objects call no I/O, and no two objects call each
# other round a circle (the three pairs of files that did are why this is checked on symbols:
# they shared one internal header, so their includes showed no circle).
#
# Every violation is one line, FILE[:LINE]: what is wrong; the exit status is 1 when there was
# one, 2 on bad usage, 0 otherwise.
set -euo pipefail

src=. obj=build/obj rules=
while [ $# -gt 0 ]; do
    case $1 in
    --src) src=$2; shift 2 ;;
    --obj) obj=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-layers: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[ -n "$rules" ] || rules=$src/tests/layers/rules
[ -r "$rules" ] || { echo "check-layers: cannot read the rules file $rules" >&2; exit 2; }
rules=$(cd "$(dirname "$rules")" && pwd)/$(basename "$rules")   # still found after the cd below
cd "$src"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every source file of the three code folders, and the program files at the root.
find common coordinator worker -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort \
    > "$work/files"
for f in *.c; do [ -e "$f" ] && echo "$f"; done >> "$work/files"

# Their include lines: FILE<TAB>LINE<TAB>"name" or <name>.
while read -r f; do
    { grep -n '^[[:space:]]*#[[:space:]]*include' "$f" || true; } |
        sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*([<"][^>"]*[>"]).*/\1\t\2/' |
        sed "s|^|$f\t|"
done < "$work/files" > "$work/includes"

# Objects: every defined symbol (OBJECT<TAB>SYMBOL) and every undefined one.
: > "$work/defs"
: > "$work/undefs"
if [ -n "$obj" ] && [ -d "$obj" ]; then
    missing=0
    while read -r f; do
        case $f in *.c) ;; *) continue ;; esac
        o=$obj/${f%.c}.o
        if [ ! -e "$o" ]; then
            echo "$f: no object $o: build first (make), or pass --obj ''"
            missing=1
            continue
        fi
        nm -g --defined-only "$o" | awk -v f="$f" 'NF == 3 { print f "\t" $3 }' >> "$work/defs"
        nm -u "$o" | awk -v f="$f" 'NF == 2 { print f "\t" $2 }' >> "$work/undefs"
    done < "$work/files"
    [ "$missing" = 0 ] || exit 1
fi

awk -F'\t' -v rules="$rules" -v work="$work" '
function room_of(path,    d) {
    if (path in is_room) return path
    d = path; sub(/\/[^\/]*$/, "", d)
    if (d != path && d in is_room) return d
    return ""
}
function may_use(a, b) { return a == b || ((a SUBSEP b) in uses) }
function glob_match(pat, s) {
    if (substr(pat, length(pat)) == "*") return index(s, substr(pat, 1, length(pat) - 1)) == 1
    return pat == s
}
function lib_of(name,    l, i) {
    for (l in nlib) for (i = 1; i <= nlib[l]; i++) if (glob_match(libhdr[l, i], name)) return l
    return ""
}
function bad(where, msg) { print where ": " msg; nbad++ }
BEGIN {
    while ((getline line < rules) > 0) {
        sub(/#.*/, "", line)
        n = split(line, w, " ")
        if (n == 0) continue
        if (w[1] == "room") {
            is_room[w[2]] = 1; order[++nrooms] = w[2]
            for (i = 3; i <= n; i++) {
                if (w[i] == "pure") pure[w[2]] = 1
                else if (w[i] != "uses") uses[w[2], w[i]] = 1
            }
        } else if (w[1] == "lib") {
            for (i = 3; i <= n; i++) libhdr[w[2], ++nlib[w[2]]] = w[i]
        } else if (w[1] == "allow") {
            for (i = 3; i <= n; i++) allowed[w[2], w[i]] = 1
        } else if (w[1] == "pure-system") {
            for (i = 2; i <= n; i++) psys[w[i]] = 1
        } else if (w[1] == "pure-common") {
            for (i = 2; i <= n; i++) pcommon[w[i]] = 1
        } else if (w[1] == "pure-forbid") {
            for (i = 2; i <= n; i++) pforbid[++nforbid] = w[i]
        } else {
            print rules ": unknown directive \"" w[1] "\"" > "/dev/stderr"; exit 2
        }
    }
    while ((getline f < (work "/files")) > 0) {
        file[f] = 1
        if (room_of(f) == "")
            bad(f, "is in no room of " rules " (add its folder there, with what it may use)")
    }
    while ((getline line < (work "/includes")) > 0) {
        split(line, p, "\t"); f = p[1]; ln = p[2]; spec = p[3]
        r = room_of(f); if (r == "") continue
        name = substr(spec, 2, length(spec) - 2)
        where = f ":" ln
        l = lib_of(name)
        if (l != "" && !((l SUBSEP r) in allowed) && !((l SUBSEP f) in allowed))
            bad(where, "includes " spec ": " r " may not use " l)
        if (substr(spec, 1, 1) == "<") {
            if (r in pure && !(name in psys))
                bad(where, "includes " spec ": " r " is pure (no I/O, sockets or protobuf) " \
                    "and that header is not on its list")
            continue
        }
        if (name == "autopeft.pb-c.h" || name == "buildinfo.h") continue
        if (index(name, "/") == 0) {
            bad(where, "includes " spec ": name the header by its path from the root " \
                "(\"common/" name "\", ...)")
            continue
        }
        if (!(name in file)) { bad(where, "includes " spec ", which does not exist"); continue }
        r2 = room_of(name)
        if (!may_use(r, r2)) {
            bad(where, "includes " spec ": " r " may not use " r2)
            continue
        }
        m = name; sub(/\.h$/, "", m)
        if (r in pure && r2 != r && !(m in pcommon))
            bad(where, "includes " spec ": " r " is pure and " m " is not one of the common " \
                "modules it may use")
        if (f != name) print f " " name > (work "/include-edges")
    }
    # Objects: who defines what, then every call that crosses a file.
    while ((getline line < (work "/defs")) > 0) {
        split(line, p, "\t"); definer[p[2]] = p[1]
    }
    while ((getline line < (work "/undefs")) > 0) {
        split(line, p, "\t"); f = p[1]; s = p[2]; r = room_of(f)
        if (s in definer) {
            d = definer[s]; r2 = room_of(d)
            if (!may_use(r, r2)) { bad(f, "calls " s " (" d "): " r " may not use " r2); continue }
            m = d; sub(/\.c$/, "", m)
            if (r in pure && r2 != r && !(m in pcommon))
                bad(f, "calls " s " (" d "): " r " is pure and " m " is not one of the common " \
                    "modules it may use")
            if (!((f SUBSEP d) in edge)) { edge[f, d] = 1; print f " " d > (work "/object-edges") }
            continue
        }
        if (r in pure)
            for (i = 1; i <= nforbid; i++)
                if (glob_match(pforbid[i], s)) {
                    bad(f, "calls " s ": " r " is pure (no I/O, sockets, protobuf or logging)")
                    break
                }
    }
    exit nbad > 0
}
' < /dev/null > "$work/report" || status=$?
status=${status:-0}
[ "$status" -le 1 ] || exit "$status"

# Circles: tsort names the files of each loop it finds.
for kind in include object; do
    [ -s "$work/$kind-edges" ] || continue
    if ! tsort "$work/$kind-edges" > /dev/null 2> "$work/$kind-loops"; then
        awk -v kind="$kind" '
            /input contains a loop/ { if (n) print "circle of " kind "s: " list; n = 0; list = "" ; next }
            { sub(/^tsort: /, ""); list = list (n++ ? " -> " : "") $0 }
            END { if (n) print "circle of " kind "s: " list }
        ' "$work/$kind-loops" >> "$work/report"
    fi
done

if [ -s "$work/report" ]; then
    cat "$work/report"
    echo "check-layers: $(wc -l < "$work/report") violation(s) of $rules (docs/architecture.md)"
    exit 1
fi
echo "check-layers: $(wc -l < "$work/files") files, $(wc -l < "$work/includes") includes" \
     "$( [ -s "$work/undefs" ] && echo "and $(wc -l < "$work/undefs") calls out of" \
     "$(grep -c '\.c$' "$work/files") objects" ) keep to $rules"

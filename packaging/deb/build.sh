#!/usr/bin/env bash
# Builds the Debian package of tollgate with dpkg-deb (make deb):
#   packaging/deb/build.sh BUILD_DIR VERSION
# The files are those of `make install` with PREFIX=/usr (the unit in
# /lib/systemd/system, as Debian 12 has it), the binary stripped, the man
# pages compressed, /etc/tollgate/tollgate.conf and the logrotate file
# marked as conffiles, and the maintainer scripts of packaging/deb.
# Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1
version=$2
arch=$(dpkg --print-architecture)
root=$build/deb/root
rm -rf "$build/deb"
mkdir -p "$root/DEBIAN"
make --no-print-directory -s BUILD="$build" install DESTDIR="$root" PREFIX=/usr SYSCONFDIR=/etc \
  UNITDIR=/lib/systemd/system >/dev/null
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/sbin/tollgate"
gzip -9n "$root"/usr/share/man/man5/tollgate.conf.5 "$root"/usr/share/man/man8/tollgate.8
doc=$root/usr/share/doc/tollgate
install -m 0644 packaging/deb/copyright "$doc/copyright"
{
  echo "tollgate ($version) unstable; urgency=medium"
  echo
  echo "  * tollgate $version."
  echo
  echo " -- tollgate maintainers <maintainers@users.noreply.b-seed-ae3f8f46.example>  $(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$root/DEBIAN/$s"; done
printf '/etc/tollgate/tollgate.conf\n/etc/logrotate.d/tollgate\n' >"$root/DEBIAN/conffiles"
# The shared libraries the binary needs, with the versions their symbols
# files give (dpkg-shlibdeps, in a scratch tree with the debian/control it
# wants).
shl=$(mktemp -d)
mkdir -p "$shl/debian/tollgate/usr/sbin"
printf 'Source: tollgate\n\nPackage: tollgate\nArchitecture: any\n' >"$shl/debian/control"
cp "$root/usr/sbin/tollgate" "$shl/debian/tollgate/usr/sbin/"
deps=$(cd "$shl" && dpkg-shlibdeps -O debian/tollgate/usr/sbin/tollgate 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shl"
[ -n "$deps" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$deps/" \
  packaging/deb/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\n' | sort | xargs md5sum) >"$root/DEBIAN/md5sums"
deb=$build/tollgate_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"

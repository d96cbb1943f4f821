#!/usr/bin/env bash
# The extra training photographs of the shipped demo model's recipe (not needed otherwise).
#
#   bash scripts/debian_photos.sh [OUT]          # default OUT=data/debian_photos
#   baryir data demo data/pretrain_benchmark_extra --size 192 --seed 1 --extra-train data/debian_photos
#
# Nine photographs of Debian's package lomiri-wallpapers-16.04 (20.04.0-2, in Debian 12
# "bookworm"; other releases may carry another version), the ones its
# copyright file licenses under CC BY 4.0 or CC0 1.0; credits in data/LICENSES.md. The
# package is fetched with `apt-get download` (no root needed) and each photograph is
# checked against its SHA-256, so the crops are the ones the model was trained on.
set -euo pipefail

out=${1:-data/debian_photos}
package=lomiri-wallpapers-16.04
version=20.04.0-2
photos="
c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad  Picture_0B_by_freespace.jpg
89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b  Picture_1A_by_freespace.jpg
d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74  Wine_by_Jakkub_Mede.jpg
66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36  aitzgorri_by_Aitzol_Berasategi.jpg
cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d  friends_by_Aitzol_Berasategi.jpg
4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05  life_by_Aitzol_Berasategi.jpg
414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a  picosdeeuropa_by_Aitzol_Berasategi.jpg
a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f  seeding_by_Clements_Engelhardt.jpg
474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18  sunset_by_Aitzol_Berasategi.jpg
"

command -v apt-get >/dev/null || { echo "apt-get not found: this recipe needs a Debian or Ubuntu machine" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "$package=$version") || {
    echo "could not download $package=$version: run 'apt-get update' (as root) and try again" >&2; exit 1; }
dpkg-deb -x "$work"/"${package}"_*.deb "$work/extract"
mkdir -p "$out"
echo "$photos" | while read -r sum name; do
    [ -n "$name" ] || continue
    cp "$work/extract/usr/share/backgrounds/$name" "$out/$name"
done
(cd "$out" && echo "$photos" | sed '/^$/d' | sha256sum --check --quiet) || {
    echo "a photograph differs from the recipe's: the package changed; the crops would differ" >&2; exit 1; }
echo "$(echo "$photos" | sed '/^$/d' | wc -l) photographs in $out"

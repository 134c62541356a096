#!/usr/bin/env bash
# The operator image: base:java + the Quarkus fast-jar (operator/target/quarkus-app), user nonroot.
#   OUT/kata-operator.oci.tar   OCI archive, named localhost/kata-operator/operator:VERSION
# Layers: Debian base | Java runtime | the app's libraries | the app itself, so a code change
# ships only the last one. Usage: build-operator-image.sh OUT_DIR VERSION
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${1:?usage: build-operator-image.sh OUT_DIR VERSION}; version=${2:?VERSION}
source "$here/lib.sh"
app="$repo/operator/target/quarkus-app"
[ -f "$app/quarkus-run.jar" ] || { echo "images: $app is missing; run ./mvnw -pl operator -am package" >&2; exit 1; }
name="localhost/kata-operator/operator:$version"

bash "$here/build-base.sh" "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/kata-operator-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
layout="$work/oci"
cp -a "$out/base" "$layout"
umoci tag --image "$layout:java" operator
mkdir -p "$work/app"
cp -a "$app/." "$work/app/"
mv "$work/app/lib" "$work/lib"
umoci insert --image "$layout:operator" --history.created_by "quarkus-app/lib" "$work/lib" /app/lib >/dev/null
umoci insert --image "$layout:operator" --history.created_by "quarkus-app (operator $version)" "$work/app" /app >/dev/null
mapfile -d '' labels < <(oci_labels kata-operator "Kata operator: reconciles KataConfigs into the node installer DaemonSet and RuntimeClasses" "$version")
# -XX:-UsePerfData: nothing written to /tmp/hsperfdata (the chart's root file system is read-only).
umoci config --image "$layout:operator" "${labels[@]}" \
  --config.user 65532:65532 --config.workingdir /app --config.exposedports 8080/tcp \
  --config.entrypoint /opt/java/bin/java --config.entrypoint -XX:MaxRAMPercentage=75 \
  --config.entrypoint -XX:-UsePerfData \
  --config.entrypoint -Djava.util.logging.manager=org.jboss.logmanager.LogManager \
  --config.entrypoint -jar --config.entrypoint /app/quarkus-run.jar \
  --config.label org.opencontainers.image.base.name=localhost/kata-operator/base:java >/dev/null
mkdir -p "$out"
oci_archive "$layout" operator "$name" "$out/kata-operator.oci.tar"
echo "images: $name at $out/kata-operator.oci.tar ($(oci_sizes "$layout" operator))" >&2

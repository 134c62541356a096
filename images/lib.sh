# Shared by the image build scripts: OCI labels and the archive step. Sourced, not run.

# The project's version: the Maven project version (image tags follow it; the operator's default
# installer image is ...:${quarkus.application.version}, the same string).
project_version() {
  sed -n '0,/<version>/s:.*<version>\(.*\)</version>.*:\1:p' "$(dirname "${BASH_SOURCE[0]}")/../pom.xml"
}

# umoci config arguments for the org.opencontainers.image.* labels (annotations too).
oci_labels() { # title description version
  local created revision
  created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  revision=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse HEAD 2>/dev/null || echo unknown)
  local -a kv=(
    "org.opencontainers.image.title=$1"
    "org.opencontainers.image.description=$2"
    "org.opencontainers.image.version=$3"
    "org.opencontainers.image.revision=$revision"
    "org.opencontainers.image.created=$created"
    "org.opencontainers.image.vendor=Kata operator"
    "org.opencontainers.image.licenses=Apache-2.0"
    "org.opencontainers.image.base.name=localhost/kata-operator/base"
  )
  for l in "${kv[@]}"; do printf -- '--config.label\0%s\0--manifest.annotation\0%s\0' "$l" "$l"; done
}

# OCI layout dir + tag -> an OCI archive (oci-layout, index.json, blobs) that `ctr image import`
# reads, with the image name in index.json's org.opencontainers.image.ref.name annotation.
# ctr 1.6 and 2.x take the name from there (--base-name is not needed).
oci_archive() { # layout tag name out.tar
  local layout=$1 tag=$2 name=$3 out=$4 tmp
  tmp=$(mktemp -d)
  skopeo copy --quiet "oci:$layout:$tag" "oci:$tmp/layout:$name"
  # Entries without a "./" prefix: Jib refuses an archive whose first entry is "./".
  tar -C "$tmp/layout" --sort=name --owner=0 --group=0 --numeric-owner -cf "$out.tmp" oci-layout index.json blobs
  mv "$out.tmp" "$out"
  rm -rf "$tmp"
}

# "A MB compressed, B MB unpacked": the layers of layout:tag as pulled and as unpacked on a node.
oci_sizes() { # layout tag
  local layout=$1 tag=$2 manifest packed=0 unpacked=0 d
  manifest=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]==$t) | .digest' "$layout/index.json")
  for d in $(jq -r '.layers[].digest' "$layout/blobs/${manifest/://}"); do
    packed=$((packed + $(stat -c %s "$layout/blobs/${d/://}")))
    unpacked=$((unpacked + $(gzip -dc "$layout/blobs/${d/://}" | wc -c)))
  done
  echo "$((packed >> 20)) MB compressed, $((unpacked >> 20)) MB unpacked"
}

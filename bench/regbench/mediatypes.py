"""Media types the benchmark sends."""

MANIFEST_OCI = "application/vnd.oci.image.manifest.v1+json"
CONFIG_OCI = "application/vnd.oci.image.config.v1+json"
LAYER_OCI = "application/vnd.oci.image.layer.v1.tar+gzip"
OCTET = "application/octet-stream"

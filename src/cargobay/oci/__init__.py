"""Pure functions about OCI content: digests, names, media types, manifest validation."""

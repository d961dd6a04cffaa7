"""The /v2 route table. Upload routes come before blob routes: both live under /blobs/."""

from __future__ import annotations

from starlette.routing import Route

from cargobay.registry.handlers import blobs, listings, manifests, uploads

NAME = "/v2/{name:path}"

routes = [
    Route("/v2/", listings.api_root, methods=["GET"]),
    Route("/v2/_catalog", listings.catalog, methods=["GET"]),
    Route(f"{NAME}/tags/list", listings.list_tags, methods=["GET"]),
    Route(f"{NAME}/referrers/{{digest}}", listings.referrers, methods=["GET"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.get_manifest, methods=["GET", "HEAD"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.put_manifest, methods=["PUT"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.delete_manifest, methods=["DELETE"]),
    Route(f"{NAME}/blobs/uploads/", uploads.start_upload, methods=["POST"]),
    Route(f"{NAME}/blobs/uploads", uploads.start_upload, methods=["POST"]),
    Route(f"{NAME}/blobs/uploads/{{upload_id}}", uploads.get_upload, methods=["GET"]),
    Route(f"{NAME}/blobs/uploads/{{upload_id}}", uploads.patch_upload, methods=["PATCH"]),
    Route(f"{NAME}/blobs/uploads/{{upload_id}}", uploads.put_upload, methods=["PUT"]),
    Route(f"{NAME}/blobs/uploads/{{upload_id}}", uploads.delete_upload, methods=["DELETE"]),
    Route(f"{NAME}/blobs/{{digest}}", blobs.get_blob, methods=["GET", "HEAD"]),
    Route(f"{NAME}/blobs/{{digest}}", blobs.delete_blob, methods=["DELETE"]),
]

"""The /v2 route table, with what each route needs of the caller (see registry.access).

Upload routes come before blob routes: both live under /blobs/.
"""

from __future__ import annotations

from starlette.routing import Route

from cargobay.auth.policy import Action
from cargobay.registry.access import Needs, delete_action, guarded
from cargobay.registry.handlers import blobs, listings, manifests, token, uploads

NAME = "/v2/{name:path}"
CREDENTIALS = Needs(None)
PULL = Needs(Action.PULL)
LIST = Needs(Action.LIST)
PUSH = Needs(Action.PUSH)
DELETE_ARTIFACT = Needs(Action.DELETE_ARTIFACT)
DELETE_BY_REFERENCE = Needs(None, by_reference=delete_action)

routes = [
    Route("/auth/token", token.get_token, methods=["GET"]),
    Route("/auth/token", token.post_token, methods=["POST"]),
    Route("/v2/", guarded(listings.api_root, CREDENTIALS), methods=["GET"]),
    Route("/v2/_catalog", guarded(listings.catalog, CREDENTIALS), methods=["GET"]),
    Route(f"{NAME}/tags/list", guarded(listings.list_tags, LIST), methods=["GET"]),
    Route(f"{NAME}/referrers/{{digest}}", guarded(listings.referrers, PULL), methods=["GET"]),
    Route(
        f"{NAME}/manifests/{{reference}}",
        guarded(manifests.get_manifest, PULL),
        methods=["GET", "HEAD"],
    ),
    Route(
        f"{NAME}/manifests/{{reference}}", guarded(manifests.put_manifest, PUSH), methods=["PUT"]
    ),
    Route(
        f"{NAME}/manifests/{{reference}}",
        guarded(manifests.delete_manifest, DELETE_BY_REFERENCE),
        methods=["DELETE"],
    ),
    Route(f"{NAME}/blobs/uploads/", guarded(uploads.start_upload, PUSH), methods=["POST"]),
    Route(f"{NAME}/blobs/uploads", guarded(uploads.start_upload, PUSH), methods=["POST"]),
    Route(
        f"{NAME}/blobs/uploads/{{upload_id}}", guarded(uploads.get_upload, PUSH), methods=["GET"]
    ),
    Route(
        f"{NAME}/blobs/uploads/{{upload_id}}",
        guarded(uploads.patch_upload, PUSH),
        methods=["PATCH"],
    ),
    Route(
        f"{NAME}/blobs/uploads/{{upload_id}}", guarded(uploads.put_upload, PUSH), methods=["PUT"]
    ),
    Route(
        f"{NAME}/blobs/uploads/{{upload_id}}",
        guarded(uploads.delete_upload, PUSH),
        methods=["DELETE"],
    ),
    Route(f"{NAME}/blobs/{{digest}}", guarded(blobs.get_blob, PULL), methods=["GET", "HEAD"]),
    Route(
        f"{NAME}/blobs/{{digest}}", guarded(blobs.delete_blob, DELETE_ARTIFACT), methods=["DELETE"]
    ),
]

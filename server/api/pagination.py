"""Paging a list: the query parameters, with bounds, and the X-Pagination header.

flask-smorest's ``paginate`` leaves the page number unbounded, so a page past 2**63 reached the
database's OFFSET and failed there; here the page has an upper bound and is a 422 past it.
"""

from __future__ import annotations

import json
from math import ceil
from typing import Any

import marshmallow as ma

from server.inputs import InputSchema

MAX_PAGE = 100_000
MAX_PAGE_SIZE = 100


class PageArgsSchema(InputSchema):
    """Which page of a list, and how long a page is."""

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, MAX_PAGE))
    page_size = ma.fields.Integer(load_default=10, validate=ma.validate.Range(1, MAX_PAGE_SIZE))


class ListPageSchema(ma.Schema):
    """Where this page lies in the list (the X-Pagination header, as JSON)."""

    total = ma.fields.Integer(metadata={"description": "items in the whole list"})
    total_pages = ma.fields.Integer()
    first_page = ma.fields.Integer()
    last_page = ma.fields.Integer()
    page = ma.fields.Integer()
    previous_page = ma.fields.Integer()
    next_page = ma.fields.Integer()


PAGINATION_HEADER = {
    "X-Pagination": {
        "description": "where this page lies in the list, as a JSON object",
        "content": {"application/json": {"schema": ListPageSchema}},
    }
}


def offset_of(args: dict[str, Any]) -> int:
    """The first item's index of the page the arguments ask for."""
    page: int = args["page"]
    size: int = args["page_size"]
    return (page - 1) * size


def pagination_header(args: dict[str, Any], total: int) -> dict[str, str]:
    """The X-Pagination header of a page of a list of ``total`` items."""
    page, pages = args["page"], max(1, ceil(total / args["page_size"]))
    metadata: dict[str, int] = {"total": total, "total_pages": pages}
    if total:
        metadata.update(first_page=1, last_page=pages, page=page)
        if 1 < page <= pages + 1:
            metadata["previous_page"] = page - 1
        if page < pages:
            metadata["next_page"] = page + 1
    return {"X-Pagination": json.dumps(metadata)}

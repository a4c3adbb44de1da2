"""A revoked API key's open streams end too, not only its next requests.

`replaydeck keys revoke` runs in another process; the server notices within
REPLAYDECK_KEY_CACHE_SECONDS (at least a second) and ends what the key holds open.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from httpx_sse import aconnect_sse

from replaydeck.auth.keys import KeyStore, Scope
from replaydeck.config import Settings
from replaydeck.store.engine import make_engine
from replaydeck.web.app import create_app
from tests.servers import serve
from tests.sse_client import dispatched

pytestmark = pytest.mark.anyio


async def test_revoking_a_key_elsewhere_ends_the_streams_it_holds(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/keys.db")
    app = create_app(settings)
    with serve(app) as running:
        # The CLI's view of the same database: another process as far as the server knows.
        keys = KeyStore(make_engine(settings))
        try:
            admin = await keys.create(Scope.ADMIN)
            reader = await keys.create(Scope.READ)
            auth = {"authorization": f"Bearer {admin.secret}"}
            read = {"authorization": f"Bearer {reader.secret}"}
            async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
                appended = await client.post(
                    "/v1/sessions/s/events",
                    json={"type": "status", "data": {"label": "one"}},
                    headers=auth,
                )
                assert appended.status_code == 200
                seen: list[str] = []
                with anyio.fail_after(15):
                    async with aconnect_sse(
                        client, "GET", "/v1/sessions/s/stream", headers=read
                    ) as source:
                        async for sse in dispatched(source):
                            seen.append(sse.id)
                            if sse.id == "1":
                                await keys.revoke(reader.record.id)
                    # The stream ended by itself: the server ended it.
                assert seen == ["1"]
                # Other keys go on.
                assert (await client.get("/v1/sessions/s", headers=auth)).status_code == 200
        finally:
            keys.close()
            await keys.engine.dispose()

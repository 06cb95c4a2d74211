"""pop serve: POP's services over HTTP (issue 13).

Layer: server (below cli, above api): it calls ``pop.api``, never the store. Importing this
package imports fastapi; the CLI imports it only when ``pop serve`` runs.

    app = create_app(settings=Settings.from_env(), auth=False)
    serve(app, host="127.0.0.1", port=0, on_ready=print)
"""

from pop.server.app import DEFAULT_MAX_BODY_BYTES, create_app
from pop.server.run import serve

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app", "serve"]

"""pop serve: POP's services over HTTP (issue 13).

Layer: server (below cli, above api): it calls ``pop.api``, never the store.
"""

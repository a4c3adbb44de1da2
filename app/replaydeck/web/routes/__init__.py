"""One module of routes per stage; each route parses, calls one service, shapes the answer."""

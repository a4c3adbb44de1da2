"""The HTTP face of replaydeck: the app factory, middleware, routes and the viewer."""

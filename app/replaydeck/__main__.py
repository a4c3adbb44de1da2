from replaydeck.cli import run

run()

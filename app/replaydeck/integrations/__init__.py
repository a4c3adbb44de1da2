"""In-process hooks for agent frameworks: each records a run through the Recorder.

They sit on the client side beside `replaydeck.capture` and need no server
package: an app installs replaydeck without the server extra and imports the
module for its framework.
"""

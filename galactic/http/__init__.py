"""The HTTP frame: the JSON API's authentication and error format, and the players' web page."""

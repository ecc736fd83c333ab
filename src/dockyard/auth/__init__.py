"""Access control shared by the server and the web pages: API keys, sign-in sessions and
failed-attempt limits."""

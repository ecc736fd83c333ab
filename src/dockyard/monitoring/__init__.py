"""Monitoring: the prediction log (:mod:`.log`, written through :mod:`.store`), and what is
read back from it: drift against the bundle's training reference and live metrics from
feedback. The server imports :mod:`.log` and :mod:`.store` only; neither imports scipy,
pandas, nor anything of the server, the web pages or the CLI."""

"""The admins' web page (``index.html``, ``app.js``, ``app.css``): static files served by ``streamer.api.routers.ui``
at ``/ui/``. Vanilla JavaScript, no build step, nothing fetched from anywhere but the node itself."""

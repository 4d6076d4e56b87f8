"""The operator's web dashboard: one page (a Jinja2 template), plain JavaScript and CSS from this package
(no CDN, no build step), a JSON snapshot of what it shows and a server-sent event feed that tells it when
to fetch the snapshot again. See docs/OPERATIONS.md ("The dashboard")."""

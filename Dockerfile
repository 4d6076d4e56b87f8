# The supervisor image. Built by compose from the rendered stack (build: context is the repository).
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY generator ./generator
COPY supervisor ./supervisor
COPY templates ./templates
COPY profiles ./profiles
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["ace-supervisor", "serve"]

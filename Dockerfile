# One image for every persona-evolve service in docker-compose.yml. The controller, the Ray head and the Ray
# workers must run the same Python, Ray and persona-evolve (Ray refuses nodes of another version), so they
# share this image. No secret is baked in: passwords, the Ray token and API keys come from .env at run time,
# and only the folders copied below enter the image (never .env).
FROM python:3.11-slim

# CPU wheels by default. For the GPU workers (the `gpu` profile) docker-compose.yml builds the same file with
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC=torch==2.13.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EVOLVE_CACHE=/data/cache \
    RAY_USAGE_STATS_ENABLED=0

# torch first, from the chosen index, so the package's own `torch>=2.2` range adds nothing on top.
RUN pip install --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY evolve ./evolve
COPY scoring ./scoring
COPY seeds ./seeds
# Editable: the built-in task and personas are read from /app/seeds, beside the code, as in a checkout.
RUN pip install -e ".[postgres,ray]"

# Named volumes start as copies of these folders, so the unprivileged user owns them from the first run:
# /app/populations (campaign folders: config, run logs, best programs) and /data/cache (prepared corpus).
RUN useradd --create-home --uid 1000 evolve \
    && mkdir -p /app/populations /data/cache \
    && chown -R evolve:evolve /app/populations /data
USER evolve

CMD ["evolve", "--help"]

# Terrarium runtime image: `terrarium serve` on 0.0.0.0:8000.
# The sandbox needs, at run time: root in the container (it drops each child to uid 65534),
# CAP_SYS_ADMIN or unprivileged user namespaces for the empty network namespace, and a seccomp
# profile that lets it install its own filters and call landlock_* (see docs/deploy.md).
# /var/lib/terrarium (TERRARIUM_DATA_DIR) is the data directory: mount a persistent volume there.
# On SIGTERM the server drains (TERRARIUM_DRAIN_S) before it exits: give it a stop timeout
# longer than that (docker stop -t, compose stop_grace_period).
# tini is process 1: it passes signals on to the server and reaps whatever process is left to
# it (the sandbox's children, should its zygote die before it reaped them), which the server,
# as process 1, would not.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TERRARIUM_DATA_DIR=/var/lib/terrarium

RUN apt-get update \
 && apt-get install -y --no-install-recommends libseccomp2 tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY client_surface ./client_surface
COPY sandbox ./sandbox
COPY flora_backend ./flora_backend
RUN pip install . && mkdir -p /var/lib/terrarium

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["terrarium", "serve", "--host", "0.0.0.0", "--port", "8000"]

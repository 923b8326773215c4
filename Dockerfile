# Stash Sense sidecar: CPU only, runs as an unprivileged user, keeps all its state on /data
# (face DB, installed models, stash_sense.db). Build with scripts/build-image (BuildKit), or:
#   DOCKER_BUILDKIT=1 docker build -t stash-sense .
# Configuration: the environment variables of the README (STASH_URL, STASH_API_KEY,
# STASH_SENSE_API_KEY, ...); the defaults below only place everything on /data and listen on
# all interfaces of the container.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG UID=10001
RUN (getent group stash-sense || groupadd --system --gid "$UID" stash-sense) \
    && (getent passwd stash-sense || useradd --system --uid "$UID" --gid stash-sense --home-dir /data \
        --no-create-home --shell /usr/sbin/nologin stash-sense) \
    && mkdir -p /data && chown stash-sense:stash-sense /data

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_WARN_SCRIPT_LOCATION=1
RUN python3 -m venv /opt/stash-sense
ENV PATH=/opt/stash-sense/bin:$PATH

# Dependencies in a layer of their own, keyed on pyproject.toml and scripts/slim-requirements
# alone: a source change reuses it. The slim set: MediaPipe without the jax/jaxlib/GUI OpenCV
# it declares but face detection never imports (see scripts/slim-requirements). A CA bundle
# for pip, when the build host needs one, comes in as a secret and is never written to a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_cert \
    --mount=type=bind,source=pyproject.toml,target=/tmp/deps/pyproject.toml \
    --mount=type=bind,source=scripts/slim-requirements,target=/tmp/deps/scripts/slim-requirements \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && pip install --upgrade 'pip>=24' \
    && python /tmp/deps/scripts/slim-requirements > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && pip install --no-deps "$(python /tmp/deps/scripts/slim-requirements --mediapipe)" \
    && rm /tmp/requirements.txt \
    && find /opt/stash-sense/lib/python3.*/site-packages/numpy /opt/stash-sense/lib/python3.*/site-packages/scipy \
        -depth -type d -name tests -exec rm -rf {} +

# The package itself: a small layer on top (the build context is mounted, not copied).
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_cert \
    --mount=type=bind,target=/tmp/src,rw \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && pip install --no-deps /tmp/src \
    && python -c "import dlib, mediapipe, av, faiss, face_recognition_models, stash_sense.cli"

ENV PYTHONUNBUFFERED=1 \
    HOME=/data \
    STASH_SENSE_DATA_DIR=/data \
    STASH_SENSE_FACE_DB=/data/facedb \
    STASH_SENSE_CACHE=/data/cache \
    STASH_SENSE_HOST=0.0.0.0 \
    STASH_SENSE_PORT=6960
VOLUME /data
WORKDIR /data
USER stash-sense
EXPOSE 6960
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('STASH_SENSE_PORT', '6960'), timeout=8); sys.exit(0)"]
ENTRYPOINT ["stash-sense"]
CMD ["serve"]

# The web image: uvicorn (liveshop/serve.py) serving HTTP and WebSockets. Built by
# docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Static files are collected at build time (hashed + compressed, served by WhiteNoise).
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 liveshop && mkdir -p /app/media && chown liveshop /app/media
USER liveshop

EXPOSE 8000
CMD ["python", "-m", "liveshop.serve", "--host", "0.0.0.0", "--port", "8000"]

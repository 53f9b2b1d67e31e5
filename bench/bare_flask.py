"""The yardstick bench/pages.py compares mtkit's pages with: a bare Flask app answering "hello"
under the same gunicorn settings (gunicorn.conf.py, same workers and threads)."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello"

"""`rnnkit serve`: the models over HTTP (JSON under /v1/) and the article's game as a page at /.

    app.py        the ASGI application: routes, errors as JSON, the page
    schemas.py    request and answer shapes (pydantic): the OpenAPI schema and the input caps
    limits.py     the caps and the gate on work in flight (413, 422, 429)
    engine.py     the loaded models and what each endpoint asks of them (the public API only)
    batching.py   the one thread that runs the models; score requests that wait together run as one batch
    static/       the page: plain HTML, CSS and JavaScript, no build step

Needs the ``serve`` extra (FastAPI and uvicorn): ``pip install 'rnnkit[serve]'``.
"""

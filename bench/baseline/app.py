"""The tutorial model server, as countless blog posts write it: the Flask development
server, a pickle loaded at import, and a pandas DataFrame built for every request.

This is the reference the benchmark measures Dockyard against; keep it naive on purpose.
Run: MODEL_PATH=model.pkl PORT=5000 python app.py
"""

import os
import pickle

import pandas as pd
from flask import Flask, jsonify, request

app = Flask(__name__)

with open(os.environ.get("MODEL_PATH", "model.pkl"), "rb") as fh:
    model = pickle.load(fh)


@app.route("/predict", methods=["POST"])
def predict():  # noqa: ANN201
    data = request.get_json()
    df = pd.DataFrame([data])
    prediction = model.predict(df)[0]
    probabilities = model.predict_proba(df)[0]
    return jsonify(
        {
            "prediction": str(prediction),
            "probabilities": dict(
                zip(map(str, model.classes_), probabilities.tolist(), strict=True)
            ),
        }
    )


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))

// Dockyard model page: sends the form to the JSON API and shows the answer without a
// reload; uploads a CSV and hands the scored file back as a download. No framework, no
// build step: the server ships this file as it is.
"use strict";

(function () {
  const form = document.getElementById("predict-form");
  if (!form) return;

  const resultBody = document.getElementById("result-body");
  const predictButton = document.getElementById("predict-button");
  const REQUEST_TIMEOUT_MS = 30000;
  const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
  const small = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });
  const large = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  // 98.67, 0.01234, 12,346: enough digits to read, not the float's noise.
  const formatValue = (v) => (Math.abs(v) >= 1000 ? large : small).format(v);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function controls() {
    return Array.from(form.querySelectorAll("[data-type]"));
  }

  function fieldOf(control) {
    return control.closest(".field");
  }

  // -- field messages ------------------------------------------------------------------------

  function errorNode(control) {
    return document.getElementById(control.id + "-error");
  }

  function setFieldError(control, message) {
    const node = errorNode(control);
    node.textContent = message;
    node.hidden = false;
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", control.id + "-error " + control.id + "-hint");
    fieldOf(control).classList.add("has-error");
  }

  function clearFieldError(control) {
    const node = errorNode(control);
    node.textContent = "";
    node.hidden = true;
    control.removeAttribute("aria-invalid");
    control.setAttribute("aria-describedby", control.id + "-hint");
    fieldOf(control).classList.remove("has-error");
  }

  // A value outside what the model saw in training is allowed, but worth a word.
  function checkRange(control) {
    if (control.dataset.type !== "number" && control.dataset.type !== "integer") return;
    const field = fieldOf(control);
    const text = field.querySelector(".hint-text");
    if (!text) return;
    if (!text.dataset.normal) text.dataset.normal = text.textContent;
    const value = control.valueAsNumber;
    const min = control.min === "" ? -Infinity : Number(control.min);
    const max = control.max === "" ? Infinity : Number(control.max);
    // bundle.json rounds examples to 6 decimals: an example at the very edge of the
    // range must not be flagged as outside it.
    const slack = 1e-6 + (Number.isFinite(max - min) ? Math.abs(max - min) * 1e-9 : 0);
    const outside = Number.isFinite(value) && (value < min - slack || value > max + slack);
    field.classList.toggle("out-of-range", outside);
    text.textContent = outside
      ? "Outside the training range " + text.dataset.normal.replace(/^Trained on /, "") +
        "; the model has not seen such values"
      : text.dataset.normal;
  }

  // -- reading the form ----------------------------------------------------------------------

  // JSON types follow the schema: the API takes numbers as numbers, not as text.
  function readRecord() {
    const record = {};
    const problems = [];
    for (const control of controls()) {
      const type = control.dataset.type;
      let value;
      if (control.type === "checkbox") {
        value = control.checked;
      } else if (type === "number" || type === "integer") {
        if (control.validity.badInput) {
          problems.push([control, "expected a number"]);
          continue;
        }
        value = control.value.trim() === "" ? null : Number(control.value);
      } else if (type === "boolean") {
        value = control.value === "" ? null : control.value === "true";
      } else {
        value = control.value === "" ? null : control.value;
      }
      record[control.name] = value;
    }
    return { record, problems };
  }

  // -- showing answers -----------------------------------------------------------------------

  function showBusy(busy) {
    predictButton.disabled = busy;
    predictButton.textContent = busy ? "Predicting…" : "Predict";
    resultBody.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // A label as JSON writes it (true, 3, setosa), which is also its probability's key.
  function labelText(label) {
    return typeof label === "string" ? label : JSON.stringify(label);
  }

  // The probability key of the predicted label; a float class such as 2.0 arrives as the
  // number 2, so numbers also match a key of equal value.
  function labelKey(probabilities, label) {
    const text = labelText(label);
    if (Object.hasOwn(probabilities, text)) return text;
    if (typeof label !== "number") return null;
    return Object.keys(probabilities).find((key) => Number(key) === label) ?? null;
  }

  function probabilityChart(probabilities, label, title = "Probability of each class") {
    const predicted = labelKey(probabilities, label);
    const entries = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
    const list = el("ul", { class: "bars", role: "list" });
    for (const [name, p] of entries) {
      const fill = el("span", { class: "bar-fill" });
      fill.style.width = Math.max(0, Math.min(1, p)) * 100 + "%";
      list.append(
        el(
          "li",
          { class: "bar" + (name === predicted ? " bar-top" : "") },
          el("span", { class: "bar-name", text: name }),
          el("span", { class: "bar-track", "aria-hidden": "true" }, fill),
          el("span", { class: "bar-value", text: percent.format(p) }),
        ),
      );
    }
    return el(
      "figure",
      { class: "chart" },
      el("figcaption", { class: "chart-title", text: title }),
      list,
    );
  }

  // Clustering: the distance to each cluster centre, nearest first; bars relative to the farthest.
  function distanceChart(distances, cluster) {
    const entries = Object.entries(distances).sort((a, b) => a[1] - b[1]);
    const farthest = Math.max(...entries.map((e) => e[1])) || 1;
    const list = el("ul", { class: "bars", role: "list" });
    for (const [name, d] of entries) {
      const fill = el("span", { class: "bar-fill" });
      fill.style.width = Math.max(0, Math.min(1, d / farthest)) * 100 + "%";
      list.append(
        el(
          "li",
          { class: "bar" + (name === String(cluster) ? " bar-top" : "") },
          el("span", { class: "bar-name", text: "Cluster " + name }),
          el("span", { class: "bar-track", "aria-hidden": "true" }, fill),
          el("span", { class: "bar-value", text: formatValue(d) }),
        ),
      );
    }
    return el(
      "figure",
      { class: "chart" },
      el("figcaption", { class: "chart-title", text: "Distance to each cluster centre" }),
      list,
    );
  }

  function showUnsupervised(prediction, answer) {
    if ("cluster" in prediction) {
      answer.append(
        el("p", { class: "answer-label", text: "Cluster" }),
        el("p", { class: "answer-value", id: "prediction-cluster", text: String(prediction.cluster) }),
      );
      resultBody.append(answer);
      if (prediction.probabilities) {
        resultBody.append(
          probabilityChart(prediction.probabilities, prediction.cluster, "Probability of each cluster"),
        );
      }
      if (prediction.distances) resultBody.append(distanceChart(prediction.distances, prediction.cluster));
      return;
    }
    const outlier = prediction.label === "outlier";
    answer.append(
      el("p", { class: "answer-label", text: "Outlier check" }),
      el("p", { class: "answer-value", id: "prediction-label", text: outlier ? "Outlier" : "Inlier" }),
    );
    if ("score" in prediction) {
      answer.append(
        el("p", {
          class: "answer-note",
          id: "prediction-score",
          text: "Score " + formatValue(prediction.score) + ": below 0 is an outlier; the lower, the more unusual.",
        }),
      );
    }
    resultBody.append(answer);
  }

  function showPrediction(body, elapsed) {
    const prediction = body.predictions[0];
    const target = form.dataset.target;
    resultBody.replaceChildren();
    const answer = el("div", { class: "answer" });
    if (form.dataset.task === "clustering" || form.dataset.task === "outlier_detection") {
      showUnsupervised(prediction, answer);
    } else if ("value" in prediction) {
      answer.append(
        el("p", { class: "answer-label", text: "Predicted " + target.toLowerCase() }),
        el("p", { class: "answer-value", id: "prediction-value", text: formatValue(prediction.value) }),
      );
      if (form.dataset.mae) {
        answer.append(
          el("p", {
            class: "answer-note",
            text: "In testing, predictions were off by " + form.dataset.mae + " on average.",
          }),
        );
      }
      resultBody.append(answer);
    } else {
      answer.append(
        el("p", { class: "answer-label", text: "Predicted " + target.toLowerCase() }),
        el("p", { class: "answer-value", id: "prediction-label", text: labelText(prediction.label) }),
      );
      const probabilities = prediction.probabilities;
      const key = probabilities ? labelKey(probabilities, prediction.label) : null;
      if (key !== null) {
        answer.append(
          el("p", { class: "answer-note", id: "prediction-probability", text: percent.format(probabilities[key]) + " probability" }),
        );
      }
      resultBody.append(answer);
      if (probabilities) resultBody.append(probabilityChart(probabilities, prediction.label));
    }
    resultBody.append(
      el("p", {
        class: "answer-meta",
        text: body.model + " " + body.version + " · answered in " + Math.round(elapsed) + " ms",
      }),
    );
  }

  function showProblem(title, items) {
    resultBody.replaceChildren(
      el(
        "div",
        { class: "notice notice-error", role: "alert" },
        el("p", { class: "notice-title", text: title }),
        items.length ? el("ul", {}, ...items) : null,
      ),
    );
  }

  function showFieldErrors(details) {
    const byName = new Map(controls().map((c) => [c.name, c]));
    const items = [];
    let first = null;
    for (const detail of details) {
      const control = detail.field === null ? undefined : byName.get(detail.field);
      if (control) {
        const existing = errorNode(control).textContent;
        setFieldError(control, existing ? existing + "; " + detail.reason : detail.reason);
        const link = el("a", { href: "#" + control.id, text: fieldOf(control).querySelector("label").textContent });
        link.addEventListener("click", (event) => {
          event.preventDefault();
          control.focus();
        });
        items.push(el("li", {}, link, ": " + detail.reason));
        first = first || control;
      } else {
        items.push(el("li", { text: (detail.field ? detail.field + ": " : "") + detail.reason }));
      }
    }
    const count = details.length === 1 ? "1 problem" : details.length + " problems";
    showProblem("The model could not use this input (" + count + ").", items);
    if (first) first.focus();
  }

  async function request(url, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.timeout || REQUEST_TIMEOUT_MS);
    try {
      return await fetch(url, { ...options, signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  async function errorBody(response) {
    try {
      return await response.json();
    } catch (_) {
      return { error: "The server answered " + response.status + " " + response.statusText + "." };
    }
  }

  function failure(error) {
    return error && error.name === "AbortError"
      ? "The server took too long to answer. Try again."
      : "Could not reach the server. Check your connection and try again.";
  }

  async function predict(event) {
    event.preventDefault();
    controls().forEach(clearFieldError);
    const { record, problems } = readRecord();
    if (problems.length) {
      showFieldErrors(problems.map(([control, reason]) => ({ field: control.name, reason })));
      return;
    }
    showBusy(true);
    const started = performance.now();
    try {
      const response = await request(form.dataset.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          // The server logs these predictions as the form's (see server/v1.py).
          "X-Dockyard-Entry": "form",
        },
        body: JSON.stringify(record),
      });
      if (response.ok) {
        showPrediction(await response.json(), performance.now() - started);
      } else {
        const body = await errorBody(response);
        if (response.status === 422 && Array.isArray(body.details)) showFieldErrors(body.details);
        else showProblem(body.error || "The request failed.", []);
      }
    } catch (error) {
      showProblem(failure(error), []);
    } finally {
      showBusy(false);
    }
  }

  function reset() {
    for (const control of controls()) {
      const value = control.dataset.default;
      if (control.type === "checkbox") control.checked = value === "true";
      else control.value = value;
      clearFieldError(control);
      checkRange(control);
    }
  }

  form.addEventListener("submit", predict);
  document.getElementById("reset-button").addEventListener("click", reset);
  for (const control of controls()) {
    control.addEventListener("input", () => {
      if (control.getAttribute("aria-invalid")) clearFieldError(control);
      checkRange(control);
    });
    checkRange(control);
  }

  // -- CSV scoring ---------------------------------------------------------------------------

  const csvForm = document.getElementById("csv-form");
  const csvInput = document.getElementById("csv-file");
  const csvButton = document.getElementById("csv-button");
  const csvStatus = document.getElementById("csv-status");
  let downloadUrl = null;

  function fileName(response, fallback) {
    const header = response.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(header);
    return match ? match[1] : fallback;
  }

  function size(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function csvProblem(title, details) {
    const items = (details || []).slice(0, 8).map((d) => {
      const where = d.line ? "Line " + d.line : d.row !== undefined ? "Row " + d.row : "";
      const what = [where, d.field].filter(Boolean).join(", ");
      return el("li", { text: (what ? what + ": " : "") + d.reason });
    });
    if (details && details.length > 8) items.push(el("li", { text: "… and " + (details.length - 8) + " more." }));
    csvStatus.replaceChildren(
      el(
        "div",
        { class: "notice notice-error" },
        el("p", { class: "notice-title", text: title }),
        items.length ? el("ul", {}, ...items) : null,
      ),
    );
  }

  async function scoreCsv(event) {
    event.preventDefault();
    const file = csvInput.files && csvInput.files[0];
    if (!file) {
      csvInput.setAttribute("aria-invalid", "true");
      csvProblem("Choose a CSV file first.", []);
      csvInput.focus();
      return;
    }
    csvInput.removeAttribute("aria-invalid");
    csvButton.disabled = true;
    csvButton.textContent = "Scoring…";
    csvStatus.replaceChildren(el("p", { class: "muted", text: "Scoring " + file.name + "…" }));
    const data = new FormData();
    data.append("file", file);
    try {
      // Large files take a while to upload and score: a generous bound, not none.
      const response = await request(csvForm.action, { method: "POST", body: data, timeout: 600000 });
      if (!response.ok) {
        const body = await errorBody(response);
        csvInput.setAttribute("aria-invalid", "true");
        csvProblem(body.error || "The file could not be scored.", body.details);
        return;
      }
      const blob = await response.blob();
      const name = fileName(response, "predictions.csv");
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
      downloadUrl = URL.createObjectURL(blob);
      const link = el("a", { href: downloadUrl, download: name, id: "csv-download", text: name });
      csvStatus.replaceChildren(
        el(
          "div",
          { class: "notice notice-ok" },
          el("p", { class: "notice-title", text: "Scored " + file.name + "." }),
          el("p", {}, "Your download should start by itself. If it does not: ", link, " (" + size(blob.size) + ")."),
        ),
      );
      link.click();
    } catch (error) {
      csvProblem(failure(error), []);
    } finally {
      csvButton.disabled = false;
      csvButton.textContent = "Score file";
    }
  }

  csvForm.addEventListener("submit", scoreCsv);
  csvInput.addEventListener("change", () => {
    csvInput.removeAttribute("aria-invalid");
    csvStatus.replaceChildren();
  });

  // -- feedback ------------------------------------------------------------------------------

  // True labels or values by request id, uploaded as CSV to the feedback endpoint; the
  // answer says how many rows came and how many matched a logged prediction.
  const feedbackForm = document.getElementById("feedback-form");
  if (feedbackForm) {
    const feedbackInput = document.getElementById("feedback-file");
    const feedbackButton = document.getElementById("feedback-button");
    const feedbackStatus = document.getElementById("feedback-status");
    const notice = (kind, title, items) =>
      feedbackStatus.replaceChildren(
        el(
          "div",
          { class: "notice notice-" + kind },
          el("p", { class: "notice-title", text: title }),
          items && items.length ? el("ul", {}, ...items) : null,
        ),
      );

    feedbackForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = feedbackInput.files && feedbackInput.files[0];
      if (!file) {
        notice("error", "Choose a CSV file first.");
        feedbackInput.focus();
        return;
      }
      feedbackButton.disabled = true;
      const data = new FormData();
      data.append("file", file);
      try {
        const response = await request(feedbackForm.action, { method: "POST", body: data });
        const body = response.ok ? await response.json() : await errorBody(response);
        if (response.ok) {
          notice(
            "ok",
            "Received " + body.received + " feedback rows from " + file.name + "; " +
              body.matched + " matched a logged prediction.",
          );
        } else {
          const items = (body.details || []).slice(0, 8).map((d) =>
            el("li", { text: (d.line ? "Line " + d.line + ", " : "") + (d.field ? d.field + ": " : "") + d.reason }),
          );
          notice("error", body.error || "The feedback was refused.", items);
        }
      } catch (error) {
        notice("error", failure(error));
      } finally {
        feedbackButton.disabled = false;
      }
    });
  }
})();

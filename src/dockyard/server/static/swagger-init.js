// Kept out of the HTML so the docs page works under a strict Content-Security-Policy.
// No validator: its badge would load an image from swagger.io (the page stays offline).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
});

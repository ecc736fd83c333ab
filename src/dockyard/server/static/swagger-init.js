// Kept out of the HTML so the docs page works under a strict Content-Security-Policy.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });

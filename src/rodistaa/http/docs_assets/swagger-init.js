// Starts Swagger UI on #swagger-ui with the OpenAPI document named by its data-openapi-url.
// A file of its own rather than an inline script, so the page's Content-Security-Policy can
// allow scripts from this origin only (rodistaa/http/docs.py).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // The default validator badge sends the document to validator.swagger.io.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
})();

"use strict";
// `node dist/migrate.js` (the config's migrate command) = `node server.js migrate`.
process.argv.splice(2, 0, "migrate");
require("../server.js");

// Mocha's spec reporter plus one closing line with the runner's own counts, in the form CI
// reads: "N passed, N failed[, N skipped]".
'use strict';
const Mocha = require('mocha');
const { EVENT_RUN_END } = Mocha.Runner.constants;

class FulcrumReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {};
      const skipped = s.pending || 0;
      process.stdout.write(`\n${s.passes || 0} passed, ${s.failures || 0} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
    });
  }
}
module.exports = FulcrumReporter;

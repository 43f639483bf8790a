/**
 * A test accuracy that should not pass silently: at or near chance (a model that predicts one class
 * for every image scores exactly 1/classes on a balanced test split), or far below the validation
 * accuracy of the same model. Shared by the report (page and report.json) and the CLI's result
 * table, so both flag the same models with the same words.
 */

/** "Near chance": at most this much above 1/classes. */
export const CHANCE_MARGIN = 0.05;
/** "Far below its validation accuracy": more than this much lower. */
export const VALIDATION_GAP = 0.25;

const f4 = (x: number) => x.toFixed(4);

/**
 * A short warning for a test accuracy (0..1) at or near chance for `classes` classes, or more than
 * VALIDATION_GAP below `validationAccuracy` (of the same model); undefined when neither holds or
 * nothing can be judged (an unknown class count and no validation accuracy).
 */
export function chanceWarning(accuracy: number, classes: number | undefined, validationAccuracy?: number): string | undefined {
  if (!Number.isFinite(accuracy)) return `test accuracy ${accuracy} is not a finite number: the model's outputs are not usable`;
  if (classes !== undefined && Number.isInteger(classes) && classes >= 2) {
    const chance = 1 / classes;
    if (accuracy <= chance + CHANCE_MARGIN) {
      return `test accuracy ${f4(accuracy)} is at or near chance (${f4(chance)} for ${classes} classes): the model may predict one class for every image`;
    }
  }
  if (validationAccuracy !== undefined && Number.isFinite(validationAccuracy) && validationAccuracy - accuracy > VALIDATION_GAP) {
    return `test accuracy ${f4(accuracy)} is ${f4(validationAccuracy - accuracy)} below its validation accuracy ${f4(validationAccuracy)}`;
  }
  return undefined;
}

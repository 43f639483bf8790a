/** The "near chance" flag the report and the CLI share (report/chance.ts). */
import { CHANCE_MARGIN, chanceWarning, VALIDATION_GAP } from '../../../report/chance';

test('flags a test accuracy at or near chance: at most 1/classes + the margin', () => {
  expect(CHANCE_MARGIN).toBe(0.05);
  // One class for every image of a balanced 10-class test split.
  expect(chanceWarning(0.1, 10)).toBe('test accuracy 0.1000 is at or near chance (0.1000 for 10 classes): the model may predict one class for every image');
  expect(chanceWarning(0, 10)).toMatch(/at or near chance/);
  expect(chanceWarning(0.15, 10)).toMatch(/at or near chance/);
  expect(chanceWarning(0.1501, 10)).toBeUndefined();
  expect(chanceWarning(0.9, 10)).toBeUndefined();
  // Two classes: chance is a half.
  expect(chanceWarning(0.52, 2)).toMatch(/0\.5000 for 2 classes/);
  expect(chanceWarning(0.6, 2)).toBeUndefined();
});

test('flags a test accuracy far below the same model\'s validation accuracy', () => {
  expect(VALIDATION_GAP).toBe(0.25);
  expect(chanceWarning(0.5, 10, 0.8)).toBe('test accuracy 0.5000 is 0.3000 below its validation accuracy 0.8000');
  expect(chanceWarning(0.6, 10, 0.8)).toBeUndefined();
  expect(chanceWarning(0.9, 10, 0.8)).toBeUndefined();
  // Near chance says so first, whatever the validation accuracy.
  expect(chanceWarning(0.1, 10, 0.8)).toMatch(/at or near chance/);
  // Without a class count only the validation gap can be judged.
  expect(chanceWarning(0.5, undefined, 0.8)).toMatch(/below its validation accuracy/);
});

test('says nothing it cannot judge', () => {
  expect(chanceWarning(0.1, undefined)).toBeUndefined();
  expect(chanceWarning(0.1, 0)).toBeUndefined();
  expect(chanceWarning(0.1, 1)).toBeUndefined();
  expect(chanceWarning(0.1, 2.5)).toBeUndefined();
  expect(chanceWarning(0.5, 10, Number.NaN)).toBeUndefined();
});

test('a test accuracy that is not a number is flagged, whatever else is known', () => {
  expect(chanceWarning(Number.NaN, 10, 0.8)).toBe("test accuracy NaN is not a finite number: the model's outputs are not usable");
  expect(chanceWarning(Number.NaN, undefined)).toContain('not a finite number');
});

/**
 * Class attributes, Python's way: a class declares a default as a static
 * property (`static timeout = null`), a subclass overrides it (`static
 * override timeout = 5000`), and an instance reads its own value (its
 * constructor option, or an assignment), else its class's.
 *
 * A class declares attribute `name` of type `T` with:
 * 1. `static name: T = defaultValue;` the class attribute, documented;
 * 2. its accessors, one typed call each: `get name(): T { return
 *    this[kAttribute]("name"); }` and `set name(value: T) {
 *    this[kAttribute]("name", value); }` (real accessors, so that `deno doc`
 *    lists them and a subclass field `name = ...` is a compile error);
 * 3. `name?: T` in the class's options interface, with `@default`;
 * 4. `name: check` (or `name: null` for none) in the class's one
 *    `declareAttributes(Class, {...})` call, right after the class: the check
 *    runs on every assignment and on the constructor option.
 *
 * @module
 */

/** Throws when `value` is not a valid value of attribute `name`. */
export type Check = (name: string, value: unknown) => void;

type Checks = Readonly<Record<string, Check | null>>;

const declared = new WeakMap<object, Checks>();

/**
 * Declares `Class`'s own attributes: each key names a static and an instance
 * accessor of `Class`, each value is its check.
 *
 * @param Class The class.
 * @param checks The checks, by attribute name.
 */
export function declareAttributes<C extends abstract new (...args: never[]) => object>(
  Class: C,
  checks: { readonly [K in keyof C & keyof InstanceType<C>]?: Check | null },
): void {
  declared.set(Class, checks as Checks);
}

/** Runs the check of attribute `name` declared by `Class` or its nearest
 * ancestor declaring it; a name no class declares is not checked. */
export function checkAttribute(Class: object, name: string, value: unknown): void {
  for (let C: object | null = Class; C !== null; C = Object.getPrototypeOf(C)) {
    const checks = declared.get(C);
    if (checks !== undefined && Object.hasOwn(checks, name)) return checks[name]?.(name, value);
  }
}

/** Checks the options of a constructor that set attributes of `Class`. */
export function checkOptions(Class: object, options: object): void {
  for (const name in options) {
    checkAttribute(Class, name, (options as Record<string, unknown>)[name]);
  }
}

/** An instance's attribute values: its own (its options, assignments), else
 * its class's static. */
export class AttributeValues {
  #own: Record<string, unknown>;
  #Class: Record<string, unknown>;

  /** Takes `options` as the instance's own values, after checking them. */
  constructor(Class: object, options: object) {
    checkOptions(Class, options);
    this.#Class = Class as Record<string, unknown>;
    this.#own = { ...options };
  }

  /** The value of attribute `name`. */
  get(name: string): unknown {
    const own = this.#own[name];
    return own !== undefined ? own : this.#Class[name];
  }

  /** Checks `value` and makes it the instance's own. */
  set(name: string, value: unknown): void {
    checkAttribute(this.#Class, name, value);
    this.#own[name] = value;
  }
}

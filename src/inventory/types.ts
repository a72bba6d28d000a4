// What the inventory loader produces. Values are already validated and merged by Ansible's
// precedence: all < parent group < child group (inventory file), then the same order again for
// group_vars/ files, then the host's own variables (inventory file, then host_vars/).
import type { HostConnectionSpec } from '../transport/types.js';

export interface InventoryHost {
  name: string;
  /** merged variables (every key, kha's and the operator's own) */
  vars: Record<string, unknown>;
  /** names of every group the host belongs to, outermost first (always includes 'all') */
  groups: string[];
  connection: HostConnectionSpec;
  /**
   * ansible_host as a DNS name, resolved once (resolve.ts) for what needs an IPv4 (VRRP peers,
   * haproxy backends, /etc/hosts). SSH still connects to the name, as `ssh` would.
   */
  resolved?: { name: string; address: string };
}

export interface Inventory {
  /** absolute path of the file */
  file: string;
  /** hosts in file order */
  hosts: InventoryHost[];
  /** group name -> host names (file order), including nested children */
  groups: Record<string, string[]>;
  /** every secret found (passwords, auth pass) for masking */
  secrets: string[];
  /** group -> its effective vars (all < parent groups < the group), for group-level settings */
  groupVars?: Record<string, Record<string, unknown>>;
  /** where values came from, so later checks (settings) can say file:line: path */
  source?: InventorySource;
  /** what the loader skipped and the operator should know (an Ansible Vault file kha cannot read) */
  warnings?: string[];
}

/** Where a key path is written: the file as messages name it, the line, and the path as that file writes it. */
export interface KeySite {
  display: string;
  line?: number;
  /** `all.vars.vip` in YAML, `[all:vars] vip` in INI */
  shown: string;
}

/** Source map of a loaded inventory. Absent when an Inventory is built by hand (tests). */
export interface InventorySource {
  /** the inventory file's name as the user gave it (joined with the directory given with -i); messages start with it */
  display: string;
  /** the inventory file's format */
  format: 'yaml' | 'ini';
  /** the group_vars/ and host_vars/ files read beside it (add-master reparses with them) */
  varFiles: readonly VarFile[];
  /** the -e/--extra-vars arguments it was loaded with (add-master reparses with them) */
  extraVars: readonly ExtraVarsArg[];
  /** does the key path point into an -e/--extra-vars argument? */
  isExtraVars(path: readonly string[]): boolean;
  /** the file, line and written form of a key path; paths into var files start with varFileKey(i) */
  locate(path: readonly string[]): KeySite;
  /** the text the inventory was parsed from (add/remove-master edit it, and refuse to overwrite a newer file) */
  text: string;
  /** 1-based line of the key at a path (['all','vars','vip']) in its file; the nearest enclosing key if absent */
  lineOf(path: readonly string[]): number | undefined;
  /** group -> key path of its first definition (['all','children','masters']) */
  groupPaths: Record<string, string[]>;
  /** group -> its ancestor groups, outermost first (not the group itself) */
  groupAncestors: Record<string, string[]>;
  /** host -> key path of its first appearance */
  hostPaths: Record<string, string[]>;
  /** host -> var -> key path of the value that won the precedence in host.vars */
  hostVarPaths: Record<string, Record<string, string[]>>;
  /** group -> var -> key path of the value that won in groupVars */
  groupVarPaths: Record<string, Record<string, string[]>>;
  /** group -> var -> key path of the group's own `vars:` entry (last definition) */
  ownVarPaths: Record<string, Record<string, string[]>>;
}

export interface ConnectionOverrides {
  user?: string;
  privateKey?: string;
  become?: boolean;
  /** --bastion: the jump host of every host whose inventory names none (ProxyJump syntax) */
  bastion?: string;
}

/** One file of group_vars/ or host_vars/. */
export interface VarFile {
  /** the path as messages show it: the -i path joined with group_vars/... */
  display: string;
  kind: 'group' | 'host';
  /** the group or host the file holds variables for */
  name: string;
  /** the entry of group_vars/ (or host_vars/) it came from: `all.yml`, or `all` for a directory */
  entry: string;
  /** that entry as messages show it: `inventory/group_vars/all.yml` */
  entryDisplay: string;
  text: string;
  /** the whole file is Ansible Vault ciphertext, which kha cannot read */
  vault?: boolean;
}

/** One -e/--extra-vars argument (extra-vars.ts reads them; the loader gives them the last word). */
export interface ExtraVarsArg {
  /** how messages name it: `-e` for KEY=VALUE and inline mappings (a value is never shown), `-e @FILE` for a file */
  display: string;
  /** a YAML or JSON mapping: the file's text, or the inline argument */
  text?: string;
  /** KEY=VALUE items, in order (values are strings, as in Ansible) */
  pairs?: Array<[string, string]>;
  /** relative `<field>_file` paths start here: the file's directory, else the working directory */
  baseDir: string;
}

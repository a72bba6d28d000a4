#compdef kha
# zsh completion for kha: commands, flags, paths, flag choices, and host names from the
# inventory given by -i. Enable it in ~/.zshrc, after compinit:  eval "$(kha completion zsh)"
# $1: --groups for group names too; the rest: what _arguments passes on to compadd
_kha_hosts() {
  local groups= inv=${opt_args[-i]:-${opt_args[--inventory]}}
  [[ $1 == --groups ]] && { groups=--groups; shift; }
  [[ -n $inv ]] || return 1
  local -a names
  names=(${(f)"$(command kha completion --hosts-of ${~inv} $groups 2>/dev/null)"})
  compadd "$@" -a names
}
_kha() {
  local curcontext=$curcontext state line
  typeset -A opt_args
  _arguments -C '(- *)--version[Print the version.]' '(- *)--help[Show help.]' '1: :->cmd' '*:: :->arg' && return 0
  case $state in
    cmd)
      local -a cmds=(
      'add-master:Add a master: install it as a backup, then update the others.'
      'completion:Print the shell completion script.'
      'drain:Take a master'\''s apiserver out of every haproxy.'
      'help:Show the commands, or one command’s flags.'
      'init:Write a starter inventory.'
      'lab:A local lab of containers: kha lab up, kha lab down.'
      'play:Run a YAML playbook with kha'\''s engine.'
      'remove-master:Remove a master.'
      'render:Print what kha up would write to one host, without connecting.'
      'up:Make the control plane highly available.'
      'upgrade:Roll config changes through a live HA control plane without losing the VIP.'
      )
      _describe -t commands 'kha command' cmds ;;
    arg)
      case $words[1] in
        add-master) _kha_add_master ;;
        completion) _kha_completion ;;
        drain) _kha_drain ;;
        help) _kha_help ;;
        init) _kha_init ;;
        lab) _kha_lab ;;
        play) _kha_play ;;
        remove-master) _kha_remove_master ;;
        render) _kha_render ;;
        up) _kha_up ;;
        upgrade) _kha_upgrade ;;
      esac ;;
  esac
}
_kha_add_master() {
  _arguments -s -S \
    '--host=[Its address.]:host: ' \
    '(-i --inventory)'{-i+,--inventory=}'[Ansible inventory.]:inventory:_files' \
    '--name=[The new master'\''s inventory name.]:name: ' \
    '--help[Show help.]'
}
_kha_completion() {
  _arguments -s -S \
    '1:shell:(bash zsh)' \
    '--help[Show help.]'
}
_kha_drain() {
  _arguments -s -S \
    '(-i --inventory)'{-i+,--inventory=}'[Ansible inventory.]:inventory:_files' \
    '--shutdown-sessions[At --timeout, close the sessions still open.]' \
    '--timeout=[Seconds to wait until no haproxy has a session open to it.]:timeout: ' \
    '1:host:_kha_hosts' \
    '--help[Show help.]'
}
_kha_help() {
  _arguments -s -S \
    '1:command:(add-master completion drain help init lab play remove-master render up upgrade)' \
    '--help[Show help.]'
}
_kha_init() {
  _arguments -s -S \
    '*--master=[A master as name=IPv4; repeat it.]:master: ' \
    '(-o --output)'{-o+,--output=}'[The inventory file to write.]:output:_files' \
    '--help[Show help.]'
}
_kha_lab() {
  local curcontext=$curcontext state line
  typeset -A opt_args
  _arguments -C '1: :->cmd' '*:: :->arg' && return 0
  case $state in
    cmd)
      local -a cmds=(
      'down:Remove a lab.'
      'up:Start a lab.'
      )
      _describe -t commands 'kha lab command' cmds ;;
    arg)
      case $words[1] in
        down) _kha_lab_down ;;
        up) _kha_lab_up ;;
      esac ;;
  esac
}
_kha_lab_down() {
  _arguments -s -S \
    '--name=[Lab name.]:name: ' \
    '--help[Show help.]'
}
_kha_lab_up() {
  _arguments -s -S \
    '--masters=[How many masters.]:masters: ' \
    '--user=[The SSH user'\''s kind.]:user:(root kha)' \
    '--help[Show help.]'
}
_kha_play() {
  _arguments -s -S \
    '--check[Change nothing.]' \
    '(-i --inventory)'{-i+,--inventory=}'[Ansible inventory.]:inventory:_files' \
    '(-l --limit)'{-l+,--limit=}'[Only these hosts or groups (comma separated, !name excludes).]:host or group:_kha_hosts --groups' \
    '1:playbook:_files' \
    '--help[Show help.]'
}
_kha_remove_master() {
  _arguments -s -S \
    '(-i --inventory)'{-i+,--inventory=}'[Ansible inventory.]:inventory:_files' \
    '--name=[The master to remove.]:host:_kha_hosts' \
    '--help[Show help.]'
}
_kha_render() {
  _arguments -s -S \
    '--host=[The host.]:host:_kha_hosts' \
    '(-i --inventory)'{-i+,--inventory=}'[Ansible inventory.]:inventory:_files' \
    '--what=[What to print.]:what:(all keepalived haproxy)' \
    '--help[Show help.]'
}
_kha_up() {
  _arguments -s -S \
    '(-b --become --no-become)'{-b,--become}'[Use sudo on the hosts.]' \
    '(-b --become --no-become)--no-become[Not --become.]' \
    '--check[Change nothing: report what would change.]' \
    '--forks=[Hosts worked on at once.]:forks: ' \
    '(-i --inventory)'{-i+,--inventory=}'[Ansible inventory: a YAML or INI file.]:inventory:_files' \
    '--log-file=[Write the JSON log here \[default: ~/.local/state\].]:log-file:_files' \
    '(-y --yes)'{-y,--yes}'[Do not ask for confirmation.]' \
    '--help[Show help.]'
}
_kha_upgrade() {
  _arguments -s -S \
    '(-i --inventory)'{-i+,--inventory=}'[Ansible inventory.]:inventory:_files' \
    '--help[Show help.]'
}
compdef _kha kha

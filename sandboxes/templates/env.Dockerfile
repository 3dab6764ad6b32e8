# Environment image of one (repository, spec): rendered by swe_srl.sandbox.images.build_env_image
# with string.Template ($$name placeholders). Built with --network none when the base image is
# the local Debian one: everything comes from the build context (wheelhouse + repository).
FROM $base_image
USER root
# A foreign base image (--base-image) may lack the user or git; the local base has both.
RUN (id -u $user >/dev/null 2>&1 || useradd -m -u $uid -s /bin/bash $user) \
 && (command -v git >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq --no-install-recommends git \
     && rm -rf /var/lib/apt/lists/*)) \
 && git config --system --add safe.directory '*' \
 && git config --system user.name "$user" && git config --system user.email "$user@sandbox.invalid" \
 && git config --system advice.detachedHead false
COPY wheelhouse /opt/wheelhouse
RUN PY=$$(command -v python$python || command -v python3) \
 && "$$PY" -m venv /opt/venv \
 && PIP_NO_INDEX=1 /opt/venv/bin/pip install -q --no-index --find-links /opt/wheelhouse --upgrade $requirements \
 && chown -R $user:$user /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VIRTUAL_ENV=/opt/venv PIP_FIND_LINKS=/opt/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8 PAGER=cat GIT_PAGER=cat
COPY --chown=$user:$user testbed $workdir
USER $user
WORKDIR $workdir
COPY --chown=$user:$user install.sh /opt/swe-srl/install.sh
# The install commands, then whatever they left untracked (egg-info, build dirs...) is
# added to .git/info/exclude: reset keeps it, and diffs do not show it.
RUN PIP_NO_INDEX=1 bash -euo pipefail /opt/swe-srl/install.sh \
 && git ls-files --others --exclude-standard --directory | sed 's|^|/|' >> .git/info/exclude
CMD ["sleep", "infinity"]

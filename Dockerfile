FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
COPY sql ./sql
COPY config ./config
RUN npm ci && npm prune --omit=dev && npm cache clean --force
USER node
EXPOSE 9464
ENTRYPOINT ["node", "bin/undb-relay.js"]
CMD ["run"]
